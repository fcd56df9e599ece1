;; kws's WebAssembly SIMD kernels for training on the WASM backend of TensorFlow.js.
;;
;; They import the backend's own memory, so they read and write tensors where they live, with no
;; copies. Plain JavaScript loops ran the same work 15-25x slower than the backend's SIMD kernels
;; (batch norm on a [50, 40, 33, 16] activation: 6 ms forward and 10 ms backward in JavaScript).
;;
;; Every pointer is a byte address in that memory. Activations are channels-last: `rows` rows of `C`
;; float32 channels, C a multiple of 4 (the callers fall back to JavaScript otherwise). Per-channel
;; sums are float64, so millions of activations keep their digits.
;;
;; Assembled by tools/assemble-simd.js into simd-binary.ts (test/model/simd.test.ts checks that the
;; two agree). Owner: model core.
(module
  (import "env" "memory" (memory 1))

  ;; sums[c] += x[r, c] and sums[C + c] += x[r, c]^2 for every row r (sums: f64[2C]).
  (func (export "bnStats") (param $x i32) (param $rows i32) (param $C i32) (param $sums i32)
    (local $r i32) (local $c i32) (local $v v128) (local $lo v128) (local $hi v128) (local $s i32) (local $q i32) (local $sq i32)
    (local.set $sq (i32.shl (local.get $C) (i32.const 3)))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $s (local.get $sums))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $v (v128.load (local.get $x)))
            (local.set $lo (f64x2.promote_low_f32x4 (local.get $v)))
            (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
            (v128.store (local.get $s) (f64x2.add (v128.load (local.get $s)) (local.get $lo)))
            (v128.store offset=16 (local.get $s) (f64x2.add (v128.load offset=16 (local.get $s)) (local.get $hi)))
            (local.set $q (i32.add (local.get $s) (local.get $sq)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.mul (local.get $lo) (local.get $lo))))
            (v128.store offset=16 (local.get $q) (f64x2.add (v128.load offset=16 (local.get $q)) (f64x2.mul (local.get $hi) (local.get $hi))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $s (i32.add (local.get $s) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; y[r, c] = (x[r, c] - mean[c]) * scale[c] + beta[c]   (mean, scale, beta: f32[C])
  (func (export "bnNormalize") (param $x i32) (param $y i32) (param $rows i32) (param $C i32) (param $mean i32) (param $scale i32) (param $beta i32)
    (local $r i32) (local $c i32) (local $o i32)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $o (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (local.get $y)
              (f32x4.add
                (f32x4.mul
                  (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mean) (local.get $o))))
                  (v128.load (i32.add (local.get $scale) (local.get $o))))
                (v128.load (i32.add (local.get $beta) (local.get $o)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; sums[c] += dy[r, c] and sums[C + c] += dy[r, c] * (x[r, c] - mean[c]) (sums: f64[2C], mean: f32[C]).
  (func (export "bnGradSums") (param $dy i32) (param $x i32) (param $mean i32) (param $rows i32) (param $C i32) (param $sums i32)
    (local $r i32) (local $c i32) (local $d v128) (local $xc v128) (local $dlo v128) (local $dhi v128) (local $s i32) (local $q i32) (local $sq i32)
    (local.set $sq (i32.shl (local.get $C) (i32.const 3)))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $s (local.get $sums))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $d (v128.load (local.get $dy)))
            (local.set $xc (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2))))))
            (local.set $dlo (f64x2.promote_low_f32x4 (local.get $d)))
            (local.set $dhi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $d) (local.get $d))))
            (v128.store (local.get $s) (f64x2.add (v128.load (local.get $s)) (local.get $dlo)))
            (v128.store offset=16 (local.get $s) (f64x2.add (v128.load offset=16 (local.get $s)) (local.get $dhi)))
            (local.set $q (i32.add (local.get $s) (local.get $sq)))
            (v128.store (local.get $q)
              (f64x2.add (v128.load (local.get $q)) (f64x2.mul (local.get $dlo) (f64x2.promote_low_f32x4 (local.get $xc)))))
            (v128.store offset=16 (local.get $q)
              (f64x2.add (v128.load offset=16 (local.get $q))
                (f64x2.mul (local.get $dhi) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $xc) (local.get $xc))))))
            (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $s (i32.add (local.get $s) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; dx[r, c] = k1[c] * dy[r, c] + k2[c] * (x[r, c] - mean[c]) + k3[c]   (all f32)
  (func (export "bnGradDx") (param $dy i32) (param $x i32) (param $dx i32) (param $rows i32) (param $C i32) (param $mean i32) (param $k1 i32) (param $k2 i32) (param $k3 i32)
    (local $r i32) (local $c i32) (local $o i32)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $o (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (local.get $dx)
              (f32x4.add
                (f32x4.add
                  (f32x4.mul (v128.load (i32.add (local.get $k1) (local.get $o))) (v128.load (local.get $dy)))
                  (f32x4.mul (v128.load (i32.add (local.get $k2) (local.get $o)))
                    (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mean) (local.get $o))))))
                (v128.load (i32.add (local.get $k3) (local.get $o)))))
            (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; sums[c] += x[r, c] for every row r (sums: f64[C]): bias gradients, a sum over batch and positions.
  (func (export "sumRows") (param $x i32) (param $rows i32) (param $C i32) (param $sums i32)
    (local $r i32) (local $c i32) (local $v v128) (local $s i32)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $s (local.get $sums))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $v (v128.load (local.get $x)))
            (v128.store (local.get $s) (f64x2.add (v128.load (local.get $s)) (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16 (local.get $s)
              (f64x2.add (v128.load offset=16 (local.get $s)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $s (i32.add (local.get $s) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; y[r, c] = x[r, c] + bias[c], then max(0, y) when relu is non-zero: a convolution's bias and
  ;; ReLU in one pass over its output, where tfjs-layers makes two (Add with a broadcast bias, Relu).
  (func (export "biasRelu") (param $x i32) (param $bias i32) (param $y i32) (param $rows i32) (param $C i32) (param $relu i32)
    (local $r i32) (local $c i32) (local $v v128) (local $zero v128)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $v (f32x4.add (v128.load (local.get $x)) (v128.load (i32.add (local.get $bias) (i32.shl (local.get $c) (i32.const 2))))))
            (if (local.get $relu) (then (local.set $v (f32x4.max (local.get $v) (local.get $zero)))))
            (v128.store (local.get $y) (local.get $v))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; The gradient of biasRelu with relu on, from its output y: dx[r, c] = dy[r, c] where y[r, c] > 0,
  ;; else 0, and sums[c] += dx[r, c] (the bias gradient; sums: f64[C]). One pass where the stock
  ;; gradients make three (Step, Mul, then Sum for the bias).
  (func (export "reluGradSums") (param $dy i32) (param $y i32) (param $dx i32) (param $rows i32) (param $C i32) (param $sums i32)
    (local $r i32) (local $c i32) (local $v v128) (local $s i32) (local $zero v128)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $s (local.get $sums))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $v (v128.and (v128.load (local.get $dy)) (f32x4.gt (v128.load (local.get $y)) (local.get $zero))))
            (v128.store (local.get $dx) (local.get $v))
            (v128.store (local.get $s) (f64x2.add (v128.load (local.get $s)) (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16 (local.get $s)
              (f64x2.add (v128.load offset=16 (local.get $s)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
            (local.set $s (i32.add (local.get $s) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; Max-pooling gradient, NHWC: each window's dy goes to the first maximum of its input (row-major
  ;; order within the window, as the CPU backend picks it), four channels at a time. dx is zeroed by
  ;; the caller; overlapping windows add up.
  (func (export "maxPoolGrad")
    (param $x i32) (param $dy i32) (param $dx i32) (param $batch i32) (param $inH i32) (param $inW i32) (param $C i32)
    (param $outH i32) (param $outW i32) (param $strideH i32) (param $strideW i32) (param $fH i32) (param $fW i32)
    (param $padTop i32) (param $padLeft i32)
    (local $b i32) (local $oh i32) (local $ow i32) (local $h0 i32) (local $h1 i32) (local $w0 i32) (local $w1 i32)
    (local $h i32) (local $w i32) (local $c i32) (local $idx i32) (local $first i32) (local $g i32)
    (local $best v128) (local $bestIdx v128) (local $v v128) (local $m v128) (local $grad v128) (local $lane i32)
    (block $bDone
      (loop $bLoop
        (br_if $bDone (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $oh (i32.const 0))
        (block $ohDone
          (loop $ohLoop
            (br_if $ohDone (i32.ge_u (local.get $oh) (local.get $outH)))
            (local.set $h0 (i32.sub (i32.mul (local.get $oh) (local.get $strideH)) (local.get $padTop)))
            (local.set $h1 (i32.add (local.get $h0) (local.get $fH)))
            (if (i32.lt_s (local.get $h0) (i32.const 0)) (then (local.set $h0 (i32.const 0))))
            (if (i32.gt_s (local.get $h1) (local.get $inH)) (then (local.set $h1 (local.get $inH))))
            (local.set $ow (i32.const 0))
            (block $owDone
              (loop $owLoop
                (br_if $owDone (i32.ge_u (local.get $ow) (local.get $outW)))
                (local.set $w0 (i32.sub (i32.mul (local.get $ow) (local.get $strideW)) (local.get $padLeft)))
                (local.set $w1 (i32.add (local.get $w0) (local.get $fW)))
                (if (i32.lt_s (local.get $w0) (i32.const 0)) (then (local.set $w0 (i32.const 0))))
                (if (i32.gt_s (local.get $w1) (local.get $inW)) (then (local.set $w1 (local.get $inW))))
                ;; g: element index of this window's dy, channel 0
                (local.set $g (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $outH)) (local.get $oh)) (local.get $outW)) (local.get $ow)) (local.get $C)))
                (if (i32.and (i32.lt_s (local.get $h0) (local.get $h1)) (i32.lt_s (local.get $w0) (local.get $w1)))
                  (then
                    (local.set $first (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH)) (local.get $h0)) (local.get $inW)) (local.get $w0)) (local.get $C)))
                    (local.set $c (i32.const 0))
                    (block $cDone
                      (loop $cLoop
                        (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
                        (local.set $best (v128.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $first) (local.get $c)) (i32.const 2)))))
                        (local.set $bestIdx (i32x4.add (i32x4.splat (i32.add (local.get $first) (local.get $c))) (v128.const i32x4 0 1 2 3)))
                        (local.set $h (local.get $h0))
                        (block $hDone
                          (loop $hLoop
                            (br_if $hDone (i32.ge_s (local.get $h) (local.get $h1)))
                            (local.set $w (local.get $w0))
                            (block $wDone
                              (loop $wLoop
                                (br_if $wDone (i32.ge_s (local.get $w) (local.get $w1)))
                                (local.set $idx (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH)) (local.get $h)) (local.get $inW)) (local.get $w)) (local.get $C)) (local.get $c)))
                                (local.set $v (v128.load (i32.add (local.get $x) (i32.shl (local.get $idx) (i32.const 2)))))
                                (local.set $m (f32x4.gt (local.get $v) (local.get $best)))
                                (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
                                (local.set $bestIdx (v128.bitselect (i32x4.add (i32x4.splat (local.get $idx)) (v128.const i32x4 0 1 2 3)) (local.get $bestIdx) (local.get $m)))
                                (local.set $w (i32.add (local.get $w) (i32.const 1)))
                                (br $wLoop)))
                            (local.set $h (i32.add (local.get $h) (i32.const 1)))
                            (br $hLoop)))
                        (local.set $grad (v128.load (i32.add (local.get $dy) (i32.shl (i32.add (local.get $g) (local.get $c)) (i32.const 2)))))
                        (local.set $lane (i32.add (local.get $dx) (i32.shl (i32x4.extract_lane 0 (local.get $bestIdx)) (i32.const 2))))
                        (f32.store (local.get $lane) (f32.add (f32.load (local.get $lane)) (f32x4.extract_lane 0 (local.get $grad))))
                        (local.set $lane (i32.add (local.get $dx) (i32.shl (i32x4.extract_lane 1 (local.get $bestIdx)) (i32.const 2))))
                        (f32.store (local.get $lane) (f32.add (f32.load (local.get $lane)) (f32x4.extract_lane 1 (local.get $grad))))
                        (local.set $lane (i32.add (local.get $dx) (i32.shl (i32x4.extract_lane 2 (local.get $bestIdx)) (i32.const 2))))
                        (f32.store (local.get $lane) (f32.add (f32.load (local.get $lane)) (f32x4.extract_lane 2 (local.get $grad))))
                        (local.set $lane (i32.add (local.get $dx) (i32.shl (i32x4.extract_lane 3 (local.get $bestIdx)) (i32.const 2))))
                        (f32.store (local.get $lane) (f32.add (f32.load (local.get $lane)) (f32x4.extract_lane 3 (local.get $grad))))
                        (local.set $c (i32.add (local.get $c) (i32.const 4)))
                        (br $cLoop)))))
                (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                (br $owLoop)))
            (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
            (br $ohLoop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bLoop))))

  ;; `count` runs of `len` bytes: run i goes from src + i * srcStep to dst + i * dstStep. An im2col
  ;; matrix is made of such runs (a 1-D convolution's patches overlap, one input row apart). Runs of
  ;; 16 bytes or more go in 16-byte vectors, the last one overlapping its neighbour (source and
  ;; destination never overlap); memory.copy costs more than the copy itself for runs this short.
  (func (export "copyRuns") (param $dst i32) (param $src i32) (param $count i32) (param $len i32) (param $dstStep i32) (param $srcStep i32)
    (local $o i32) (local $tail i32)
    (if (i32.lt_u (local.get $len) (i32.const 16))
      (then
        (block $done
          (loop $runLoop
            (br_if $done (i32.eqz (local.get $count)))
            (memory.copy (local.get $dst) (local.get $src) (local.get $len))
            (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
            (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
            (local.set $count (i32.sub (local.get $count) (i32.const 1)))
            (br $runLoop))))
      (else
        (local.set $tail (i32.sub (local.get $len) (i32.const 16)))
        (block $done
          (loop $runLoop
            (br_if $done (i32.eqz (local.get $count)))
            (local.set $o (i32.const 0))
            (block $chunksDone
              (loop $chunkLoop
                (br_if $chunksDone (i32.ge_u (local.get $o) (local.get $tail)))
                (v128.store (i32.add (local.get $dst) (local.get $o)) (v128.load (i32.add (local.get $src) (local.get $o))))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (br $chunkLoop)))
            (v128.store (i32.add (local.get $dst) (local.get $tail)) (v128.load (i32.add (local.get $src) (local.get $tail))))
            (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
            (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
            (local.set $count (i32.sub (local.get $count) (i32.const 1)))
            (br $runLoop))))))
)

; ripmap's additions to the tree-sitter-rust tags query.

; body-less functions: trait method requirements `fn name(&self) -> String;` and
; foreign functions in `extern "C" { fn abs(x: i32) -> i32; }`. In a trait the
; extractor re-kinds them as methods.
(function_signature_item
    name: (identifier) @name) @definition.function

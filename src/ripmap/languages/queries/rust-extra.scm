; ripmap's additions to the tree-sitter-rust tags query.

; body-less functions: trait method requirements `fn name(&self) -> String;` and
; foreign functions in `extern "C" { fn abs(x: i32) -> i32; }`. In a trait the
; extractor re-kinds them as methods.
(function_signature_item
    name: (identifier) @name) @definition.function

; impl blocks as containers: `impl Foo`, `impl Trait for Foo<T>`. The extractor names
; each after the implementing type's own name (`Foo`), so its methods nest under it
; (parent `Foo`) with the block's span. It defines no name for the reference graph.
(impl_item
    type: (_) @name) @definition.impl

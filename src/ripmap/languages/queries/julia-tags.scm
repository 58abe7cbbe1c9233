; Tags query for Julia (tree-sitter-julia 0.23 grammar).
; Original query written for ripmap.
;
; Note: the grammar has almost no fields, so most patterns rely on child
; order (`.` anchors). A method signature is a `call_expression` (possibly
; wrapped in `typed_expression` for a return type and/or `where_expression`
; for type parameters); the callee is an `identifier` or, for methods added to
; another module's function (`Base.show`), a `field_expression` whose last
; identifier is the function name.

; ---------------------------------------------------------------------------
; Definitions
; ---------------------------------------------------------------------------

; `module Foo ... end`, `baremodule Foo ... end`
(module_definition
  name: (identifier) @name) @definition.module

; `function f end` (generic function with no methods)
(function_definition
  (signature
    .
    (identifier) @name .)) @definition.function

; `function f(args) ... end`, `function Base.f(args) ... end`
(function_definition
  (signature
    .
    (call_expression
      .
      [
        (identifier) @name
        (field_expression (identifier) @name .)
      ]))) @definition.function

; `function f(args)::T ... end`
(function_definition
  (signature
    .
    (typed_expression
      .
      (call_expression
        .
        [
          (identifier) @name
          (field_expression (identifier) @name .)
        ])))) @definition.function

; `function f(args) where {T} ... end`, `function f(args)::R where T ... end`
(function_definition
  (signature
    .
    (where_expression
      .
      [
        (call_expression
          .
          [
            (identifier) @name
            (field_expression (identifier) @name .)
          ])
        (typed_expression
          .
          (call_expression
            .
            [
              (identifier) @name
              (field_expression (identifier) @name .)
            ]))
        (where_expression
          .
          (call_expression
            .
            [
              (identifier) @name
              (field_expression (identifier) @name .)
            ]))
      ]))) @definition.function

; short form: `f(x) = ...`, `f(x)::T = ...`, `f(x) where T = ...`
(assignment
  .
  [
    (call_expression
      .
      [
        (identifier) @name
        (field_expression (identifier) @name .)
      ])
    (typed_expression
      .
      (call_expression
        .
        [
          (identifier) @name
          (field_expression (identifier) @name .)
        ]))
    (where_expression
      .
      [
        (call_expression
          .
          [
            (identifier) @name
            (field_expression (identifier) @name .)
          ])
        (typed_expression
          .
          (call_expression
            .
            [
              (identifier) @name
              (field_expression (identifier) @name .)
            ]))
      ])
  ]
  .
  (operator)) @definition.function

; `macro m(args) ... end`
(macro_definition
  (signature
    .
    (call_expression
      .
      (identifier) @name))) @definition.macro

; `struct Foo ... end`, `mutable struct Foo{T} <: Bar ... end`
(struct_definition
  (type_head
    [
      (identifier) @name
      (parametrized_type_expression . (identifier) @name)
      (binary_expression
        .
        [
          (identifier) @name
          (parametrized_type_expression . (identifier) @name)
        ])
    ])) @definition.struct

; `abstract type Foo <: Bar end`, `primitive type Foo 8 end`
([
  (abstract_definition
    (type_head
      [
        (identifier) @name
        (parametrized_type_expression . (identifier) @name)
        (binary_expression
          .
          [
            (identifier) @name
            (parametrized_type_expression . (identifier) @name)
          ])
      ]))
  (primitive_definition
    (type_head
      [
        (identifier) @name
        (binary_expression . (identifier) @name)
      ]))
 ] @definition.type)

; `const X = ...`, `const X::T = ...`, `const A, B = ...`
(const_statement
  (assignment
    .
    [
      (identifier) @name
      (typed_expression . (identifier) @name)
      (open_tuple (identifier) @name)
    ])) @definition.constant

; plain global assignments at file or module level: `x = ...`
(source_file
  (assignment
    .
    (identifier) @name) @definition.variable)

(module_definition
  (assignment
    .
    (identifier) @name) @definition.variable)

; ---------------------------------------------------------------------------
; References
; ---------------------------------------------------------------------------

; `f(x)`, `a.b.f(x)`, and broadcasting `f.(x)`
([
  (call_expression
    .
    [
      (identifier) @name
      (field_expression (identifier) @name .)
    ])
  (broadcast_call_expression
    .
    [
      (identifier) @name
      (field_expression (identifier) @name .)
    ])
 ] @reference.call)

; macro invocations: `@foo x`, `Base.@foo x`
(macrocall_expression
  (macro_identifier
    (identifier) @name)) @reference.call

; type annotations: `x::T`, `x::T{S}`, `x::Mod.T`
(typed_expression
  (_)
  .
  [
    (identifier) @name
    (parametrized_type_expression . (identifier) @name)
    (field_expression (identifier) @name .)
  ]
  .) @reference.type

; supertypes: `struct Foo <: Bar`, `abstract type Foo{T} <: Bar{T} end`
(type_head
  (binary_expression
    (operator)
    .
    [
      (identifier) @name
      (parametrized_type_expression . (identifier) @name)
    ])) @reference.type

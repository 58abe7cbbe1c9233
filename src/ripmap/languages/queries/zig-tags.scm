; Tags query for Zig (tree-sitter-zig 1.x grammar).
; Original query written for ripmap.
;
; Grammar notes:
; - `variable_declaration` has no field for its name; the name is its first
;   named child and the value (if any) is its last named child.
; - the grammar also parses plain assignment statements (`x = 1;`, `y += 1;`)
;   as `variable_declaration`, but without a `const`/`var` keyword, so every
;   pattern below requires one of those keywords.
; - only container-level declarations (file, struct, union, enum, opaque) are
;   tagged; locals inside function bodies are not.

; ---------------------------------------------------------------------------
; Definitions
; ---------------------------------------------------------------------------

; `fn f() void {}`, `pub fn f() !void {}`, `extern fn f(...) T;` at file level
(source_file
  (function_declaration
    name: (identifier) @name) @definition.function)

; functions inside a container type are methods / namespaced functions
([
  (struct_declaration
    (function_declaration
      name: (identifier) @name) @definition.method)
  (union_declaration
    (function_declaration
      name: (identifier) @name) @definition.method)
  (enum_declaration
    (function_declaration
      name: (identifier) @name) @definition.method)
  (opaque_declaration
    (function_declaration
      name: (identifier) @name) @definition.method)
])

; `const Foo = struct { ... };`, `const Foo = packed struct { ... };`,
; `const Foo = union(enum) { ... };`
(variable_declaration
  ["const" "var"]
  .
  (identifier) @name
  [
    (struct_declaration)
    (union_declaration)
  ]
  .) @definition.struct

; `const Kind = enum { ... };`, `const Err = error{ ... };`
(variable_declaration
  ["const" "var"]
  .
  (identifier) @name
  [
    (enum_declaration)
    (error_set_declaration)
  ]
  .) @definition.enum

; `const Handle = opaque {};`
(variable_declaration
  ["const" "var"]
  .
  (identifier) @name
  (opaque_declaration)
  .) @definition.type

; any other container-level `const`: constants and type aliases.
; Imports (`const std = @import("std");`) and plain re-exports of a dotted
; path (`const Allocator = std.mem.Allocator;`) are not definitions and are
; skipped.
([
  (source_file
    (variable_declaration
      "const"
      .
      (identifier) @name
      (_) @_value
      .) @definition.constant)
  (struct_declaration
    (variable_declaration
      "const"
      .
      (identifier) @name
      (_) @_value
      .) @definition.constant)
  (union_declaration
    (variable_declaration
      "const"
      .
      (identifier) @name
      (_) @_value
      .) @definition.constant)
  (enum_declaration
    (variable_declaration
      "const"
      .
      (identifier) @name
      (_) @_value
      .) @definition.constant)
  (opaque_declaration
    (variable_declaration
      "const"
      .
      (identifier) @name
      (_) @_value
      .) @definition.constant)
]
  (#not-match? @_value "^((extern|packed)[ \t]+)?(struct|union|enum|opaque|error)([ \t\n(]|[{])")
  (#not-match? @_value "^@import[ \t]*[(]")
  (#not-match? @_value "^[A-Za-z_][A-Za-z0-9_]*([.][A-Za-z_][A-Za-z0-9_]*)+$"))

; container-level `var` (global / static mutable state)
([
  (source_file
    (variable_declaration
      "var"
      .
      (identifier) @name
      (_) @_value
      .) @definition.variable)
  (struct_declaration
    (variable_declaration
      "var"
      .
      (identifier) @name
      (_) @_value
      .) @definition.variable)
  (union_declaration
    (variable_declaration
      "var"
      .
      (identifier) @name
      (_) @_value
      .) @definition.variable)
  (enum_declaration
    (variable_declaration
      "var"
      .
      (identifier) @name
      (_) @_value
      .) @definition.variable)
  (opaque_declaration
    (variable_declaration
      "var"
      .
      (identifier) @name
      (_) @_value
      .) @definition.variable)
]
  (#not-match? @_value "^((extern|packed)[ \t]+)?(struct|union|enum|opaque|error)([ \t\n(]|[{])"))

; ---------------------------------------------------------------------------
; References
; ---------------------------------------------------------------------------

; `foo(...)`
(call_expression
  function: (identifier) @name) @reference.call

; `a.foo(...)`, `std.debug.print(...)`, `List(T).init(...)` -> last member
(call_expression
  function: (field_expression
    member: (identifier) @name)) @reference.call

; named types in type positions: parameters, return types, fields,
; variable annotations (`x: Foo`, `fn f() Foo`)
(_
  type: (identifier) @name) @reference.type

; `x: std.mem.Allocator` -> Allocator
(_
  type: (field_expression
    member: (identifier) @name)) @reference.type

; wrapped types: `?Foo`, `*Foo`, `[]Foo`, `[N]Foo`
([
  (nullable_type (identifier) @name)
  (pointer_type (identifier) @name)
  (slice_type (identifier) @name)
  (array_type (identifier) @name .)
] @reference.type)

; `fn f() !Foo`, `x: E!Foo` (only in a type position: the grammar also
; produces `error_union_type` for the `!std` in `!std.ArrayList(T)`)
(_
  type: (error_union_type
    ok: (identifier) @name) @reference.type)

; struct literals: `Foo{ .a = 1 }`
(struct_initializer
  .
  (identifier) @name) @reference.type

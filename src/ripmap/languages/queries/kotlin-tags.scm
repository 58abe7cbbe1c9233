; Tags query for Kotlin (tree-sitter-kotlin 1.x grammar).
; Original query written for ripmap.

; ---------------------------------------------------------------------------
; Definitions
; ---------------------------------------------------------------------------

; `interface Foo`, `fun interface Foo`, `sealed interface Foo`
(class_declaration
  "interface"
  name: (identifier) @name) @definition.interface

; `enum class Foo { ... }`
(class_declaration
  (modifiers
    (class_modifier) @_enum_kw)
  "class"
  name: (identifier) @name
  (#eq? @_enum_kw "enum")) @definition.enum

; any other `class Foo` (plain, data, sealed, open, abstract, inner, value, ...)
(class_declaration
  (modifiers)? @_class_mods
  "class"
  name: (identifier) @name
  (#not-match? @_class_mods "(^|\\s)enum(\\s|$)")) @definition.class

; `object Foo` and named `companion object Foo`
(object_declaration
  name: (identifier) @name) @definition.class

(companion_object
  name: (identifier) @name) @definition.class

; `typealias Foo<T> = ...` (the grammar puts the alias name in the `type` field)
(type_alias
  type: (identifier) @name) @definition.type

; functions declared at file level (including extension functions)
(source_file
  (function_declaration
    name: (identifier) @name) @definition.function)

; functions declared inside a class / object / interface / enum body
(class_body
  (function_declaration
    name: (identifier) @name) @definition.method)

(enum_class_body
  (function_declaration
    name: (identifier) @name) @definition.method)

; `const val X = ...` at file level or in an object / companion object
(source_file
  (property_declaration
    (modifiers
      (property_modifier) @_const_kw)
    (variable_declaration
      (identifier) @name)
    (#eq? @_const_kw "const")) @definition.constant)

(class_body
  (property_declaration
    (modifiers
      (property_modifier) @_const_kw)
    (variable_declaration
      (identifier) @name)
    (#eq? @_const_kw "const")) @definition.constant)

; other `val` / `var` properties at file level or in a class body
(source_file
  (property_declaration
    (modifiers)? @_prop_mods
    [
      (variable_declaration
        (identifier) @name)
      (multi_variable_declaration
        (variable_declaration
          (identifier) @name))
    ]
    (#not-match? @_prop_mods "(^|\\s)const(\\s|$)")) @definition.property)

(class_body
  (property_declaration
    (modifiers)? @_prop_mods
    (variable_declaration
      (identifier) @name)
    (#not-match? @_prop_mods "(^|\\s)const(\\s|$)")) @definition.property)

; ---------------------------------------------------------------------------
; References
; ---------------------------------------------------------------------------

; `foo(...)`, `Foo(...)`, `foo { ... }`
(call_expression
  .
  (identifier) @name) @reference.call

; `a.foo(...)`, `a?.foo(...)`, `super.foo(...)` -> foo
(call_expression
  .
  (navigation_expression
    (identifier) @name
    .)) @reference.call

; user types in any type position (annotations, parameters, return types,
; supertypes, type arguments); for `a.b.Foo<T>` the last segment is used
(user_type
  (identifier) @name
  .) @reference.type

(user_type
  (identifier) @name
  .
  (type_arguments)
  .) @reference.type

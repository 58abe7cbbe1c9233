; Tags query for Haskell (tree-sitter-haskell 0.23+ grammar).
; Original query written for ripmap.
;
; Grammar notes:
; - value-level code uses `variable` (lower-case names) and `constructor`
;   (upper-case data constructors); type-level code uses `name` for type
;   constructors / classes and `variable` for type variables.
; - the node type `function` is used both for a function equation
;   (`f x = ...`, has a `name` field) and for a type-level arrow
;   (`a -> b`, has `parameter` / `result` fields).
; - value-level `apply` has `function` / `argument` fields; type-level
;   `apply` has `constructor` / `argument` fields.

; ---------------------------------------------------------------------------
; Definitions
; ---------------------------------------------------------------------------

; `module Data.Foo (...) where`
(header
  module: (module) @name) @definition.module

; top-level type signatures: `f :: a -> b`, `f, g :: a`, `(<+>) :: a -> a -> a`
(declarations
  (signature
    name: (variable) @name) @definition.function)

(declarations
  (signature
    names: (binding_list
      name: (variable) @name)) @definition.function)

(declarations
  (signature
    name: (prefix_id
      (operator) @name)) @definition.function)

; top-level equations: `f x y = ...`, `x = ...`
(declarations
  (function
    name: (variable) @name) @definition.function)

(declarations
  (bind
    name: (variable) @name) @definition.function)

; top-level infix equations: ``x <+> y = ...``, ``x `op` y = ...``
(declarations
  (function
    .
    (infix
      operator: [
        (operator) @name
        (infix_id (variable) @name)
      ])) @definition.function)

; `data T = ...`, `newtype T = ...`, `type T = ...`, type / data families
([
  (data_type name: (name) @name)
  (newtype name: (name) @name)
  (type_synonym name: (name) @name)
  (type_family name: (name) @name)
  (data_family name: (name) @name)
] @definition.type)

; record fields: `data T = T { fieldName :: Int }`
(field
  name: (field_name
    (variable) @name)) @definition.field

; `class Eq a => Container f where ...`
(class
  name: (name) @name) @definition.interface

; class method signatures and default implementations
(class_declarations
  [
    (signature name: (variable) @name)
    (function name: (variable) @name)
    (bind name: (variable) @name)
  ] @definition.method)

; methods implemented in an instance
(instance_declarations
  [
    (function name: (variable) @name)
    (bind name: (variable) @name)
  ] @definition.method)

; ---------------------------------------------------------------------------
; References: values
; ---------------------------------------------------------------------------

; head of a function application: `f x y`, `Just x`
(apply
  function: [
    (variable) @name
    (constructor) @name
  ]) @reference.call

; qualified names: `Map.insert k v m`, `Map.empty`
(qualified
  id: [
    (variable) @name
    (constructor) @name
  ]) @reference.call

; functions / values passed as arguments: `foldr step z xs`
; (the `function:` field restricts this to value-level applications; a
; type-level `apply` has a `constructor:` field instead, and its variable
; arguments are type variables)
(apply
  function: (_)
  argument: [
    (variable) @name
    (constructor) @name
  ]) @reference.call

; right-hand side that is a bare name: `f = g`
(match
  expression: [
    (variable) @name
    (constructor) @name
  ]) @reference.call

; operands and operators of infix expressions: `f . g`, ``a `div` b``
(infix
  left_operand: (variable) @name) @reference.call

(infix
  right_operand: (variable) @name) @reference.call

(infix
  operator: [
    (operator) @name
    (infix_id (variable) @name)
  ]) @reference.call

; operator sections: `(+ 1)`, ``(`div` 2)``
([
  (left_section [(operator) @name (infix_id (variable) @name)])
  (right_section [(operator) @name (infix_id (variable) @name)])
] @reference.call)

; ---------------------------------------------------------------------------
; References: types
; ---------------------------------------------------------------------------

; a type in any `type:` slot (signatures, record fields, strict fields,
; type synonyms, GADT constructors)
(_
  type: (name) @name) @reference.type

; arrows, applications, tuples and lists at the type level
(function
  parameter: (name) @name) @reference.type

(function
  result: (name) @name) @reference.type

(apply
  constructor: (name) @name) @reference.type

(apply
  argument: (name) @name) @reference.type

(tuple
  element: (name) @name) @reference.type

(list
  element: (name) @name) @reference.type

; `M.Map k v`
(qualified
  id: (name) @name) @reference.type

; positional constructor fields: `data T = C Int String`, `newtype N = N Int`
(prefix
  field: (name) @name) @reference.type

(newtype_constructor
  field: (field
    (name) @name)) @reference.type

; instance heads: `instance Show T`, `deriving instance Eq T`
([
  (instance name: (name) @name)
  (deriving_instance name: (name) @name)
] @reference.class)

(type_patterns
  (name) @name) @reference.type

; `deriving (Eq, Show)`, `deriving Show`
(deriving
  classes: [
    (name) @name
    (parens (name) @name)
    (tuple (name) @name)
  ]) @reference.class

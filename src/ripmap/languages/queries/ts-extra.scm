; ripmap's additions for TypeScript and TSX. The typescript wheel's tags.scm covers
; only part of the TS-only syntax (no type aliases, enums or namespaces) and tags a
; type only where it directly annotates something.

(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
; namespace NS { ... } (the wheel's query knows only `module NS { ... }`)
(internal_module name: (identifier) @name) @definition.module

; superclasses: class A extends B<T>
(extends_clause value: (identifier) @name) @reference.class

; every other use of a named type: implements/extends lists, generic arguments,
; unions, casts
(type_identifier) @name @reference.type

; a type parameter's declaration (`class Box<T>`) is no use of a type
(type_parameter name: (type_identifier) @ignore)

; ripmap's additions to the tree-sitter-python tags query: references the
; shipped query leaves out but that carry most of Python's cross-file structure.

; base classes: class Session(BaseClient, mixins.Retry)
(class_definition
  superclasses: (argument_list (identifier) @name @reference.class))
(class_definition
  superclasses: (argument_list (attribute attribute: (identifier) @name) @reference.class))

; decorators: @dataclass, @app.route(...)
(decorator (identifier) @name @reference.call)
(decorator (attribute attribute: (identifier) @name) @reference.call)

; names imported from a module: from .models import Request, Response as R
(import_from_statement
  name: (dotted_name (identifier) @name .) @reference.module)
(import_from_statement
  name: (aliased_import name: (dotted_name (identifier) @name .)) @reference.module)

; type annotations: def f(x: Request) -> Response
(type (identifier) @name @reference.type)
(type (attribute attribute: (identifier) @name) @reference.type)
(type (generic_type (identifier) @name) @reference.type)

; class-level constants and fields: class C: TIMEOUT = 5 / name: str
(class_definition
  body: (block (expression_statement (assignment left: (identifier) @name) @definition.field)))

; modules a file imports, for import-aware reference resolution (kind "import")
(import_from_statement module_name: (dotted_name) @name) @reference.import
(import_from_statement module_name: (relative_import) @name) @reference.import
(import_statement name: (dotted_name) @name) @reference.import
(import_statement name: (aliased_import name: (dotted_name) @name)) @reference.import

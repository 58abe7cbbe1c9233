; Tags query for Bash (tree-sitter-bash 0.25 grammar).
; Original query written for ripmap.

; ---------------------------------------------------------------------------
; Definitions
; ---------------------------------------------------------------------------

; `name() { ... }`, `function name { ... }`, `function name() { ... }`
(function_definition
  name: (word) @name) @definition.function

; `NAME=value` / `NAME=(a b c)` at the top level of the script
(program
  (variable_assignment
    name: (variable_name) @name) @definition.variable)

; `a=1 b=2` on one line at the top level
(program
  (variable_assignments
    (variable_assignment
      name: (variable_name) @name)) @definition.variable)

; `readonly NAME=value` at the top level
(program
  (declaration_command
    "readonly"
    (variable_assignment
      name: (variable_name) @name)) @definition.constant)

; `export NAME=value`, `declare [-flags] NAME=value`, `typeset NAME=value`
(program
  (declaration_command
    ["export" "declare" "typeset" "local"]
    (variable_assignment
      name: (variable_name) @name)) @definition.variable)

; ---------------------------------------------------------------------------
; References
; ---------------------------------------------------------------------------

; the command word of a simple command: `foo arg ...` -> foo
(command
  name: (command_name
    (word) @name)) @reference.call

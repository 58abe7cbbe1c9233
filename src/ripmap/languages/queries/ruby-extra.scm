; ripmap's additions to the tree-sitter-ruby tags query.
;
; The shipped query tags every bare identifier as a call unless `(#is-not? local)`,
; a predicate that needs a locals analysis the Python bindings do not run. Here the
; names a method binds (parameters, assigned variables, block parameters, rescue
; variables) are captured as @local; the extractor drops bare-identifier references
; to a name bound in the same definition. A bare identifier that is never bound is
; kept: in Ruby it is a method call (`puts`, an attr_reader).

(method_parameters (identifier) @local)
(lambda_parameters (identifier) @local)
(block_parameters (identifier) @local)
(destructured_parameter (identifier) @local)
(optional_parameter name: (identifier) @local)
(keyword_parameter name: (identifier) @local)
(splat_parameter name: (identifier) @local)
(hash_splat_parameter name: (identifier) @local)
(block_parameter name: (identifier) @local)
(assignment left: (identifier) @local)
(operator_assignment left: (identifier) @local)
(left_assignment_list (identifier) @local)
(for pattern: (identifier) @local)
(exception_variable (identifier) @local)

; ripmap: local headers a C/C++ file includes (kind "import").
(preproc_include path: (string_literal) @name) @reference.import

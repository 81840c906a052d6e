"""The exported model: its dataclasses and JSON (``exported``) and the one validation of its shapes and values
(``check``). It knows nothing of C: the code generator stamps its MODEL_HASH (``codegen.identity``)."""

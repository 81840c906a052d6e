"""Writing the outputs: ``api`` (export_model, write_outputs), ``requests`` (the CLI's CSV and saved-model
exports, --if-changed), ``fingerprint`` (the input-hash tag, standard library only), ``vectors`` (golden vectors),
``paths`` / ``atomic`` (checked paths, all-or-nothing writes) and ``loading`` (saved estimators)."""

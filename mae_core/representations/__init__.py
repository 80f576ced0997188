"""What the encoder learned: per-layer features of full images (cached on disk), linear CKA between layers and
models, and probes (k-NN, linear, attentive) on labelled folders.

- imagesets: labelled folders, the bundled photographs, package-shipped labelled sets;
- features: per-layer CLS / mean-pooled / per-patch features, streamed to a disk cache, resumable (torch);
- cka: linear CKA, the unbiased minibatch estimator, layer x layer matrices (numpy);
- probes: DINO k-NN, linear probe, attentive probe, over stratified folds (numpy, scikit-learn; torch for the
  attentive probe);
- analysis: CKA matrices and probe tables from feature stores;
- the command lines ``python -m mae_core features | cka | probe`` are in mae_core.commands.representations.
"""

"""Model quality from delayed ground truth: Model Monitor's model-quality baseline files
(`files.py`, `baseline.py`), its metrics (`metrics.py`), and the watcher that joins labels to
predictions and checks them per window and online (`watcher.py`). docs/model-quality.md."""

"""Model code: the feature schema, the file formats, the model store (pandas, pyarrow, xgboost)."""

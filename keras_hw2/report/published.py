"""The figures the homework's report published, printed beside ours in every table.

Each entry is ``(value, where it was measured)``. The homework's P2G figures are
test-split figures; that split is held back here, so ours are validation figures.
`keras_hw2.report.tables` puts each entry in the row of the figure its key names.
"""
PUBLISHED = {
    "cnn_best_lr": (0.01, "validation split, 40 epochs per learning rate"),
    "cnn_best_val_accuracy_baseline": (0.7137, "validation split, 40 epochs"),
    "cnn_best_val_accuracy_batchnorm": (0.7614, "validation split, 40 epochs"),
    "cnn_params_baseline": (5_340_742, "model definition"),
    "cnn_params_batchnorm": (755_718, "model definition"),
    "p2g_cer_plain": (0.3402, "test split, greedy"),
    "p2g_wer_plain": (0.8300, "test split, greedy"),
    "p2g_cer_attention": (0.2171, "test split, greedy"),
    "p2g_wer_attention": (0.7270, "test split, greedy"),
    "p2g_nucleus_cer_attention": (0.2259, "test split, nucleus p=0.8"),
    "p2g_nucleus_wer_attention": (0.7630, "test split, nucleus p=0.8"),
    "p2g_nucleus_wer_at_3_attention": (0.7370, "test split, nucleus p=0.8, 3 samples"),
}

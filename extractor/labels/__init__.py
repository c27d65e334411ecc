"""Labels without hand labelling: a teacher labels a diverse sample of the user's documents
(`label`), a person corrects the doubtful values in the browser (`editor`), and the labels train a
small student (`extractor finetune --train DIR`)."""

from extractor.labels.run import LabelResult, label
from extractor.labels.store import Label, import_corrections, read_labels

__all__ = ["Label", "LabelResult", "import_corrections", "label", "read_labels"]

"""Models written once with polymod: the chapter's listings (``chapter``), LeNet and a
ResNet block (``vision``), sequence models (``sequence``), and real models with the
parameter names of the libraries people load weights from: ``resnet`` (torchvision),
``bert`` and ``gpt2`` (Hugging Face)."""

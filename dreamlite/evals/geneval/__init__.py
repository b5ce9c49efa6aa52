"""GenEval (Ghosh et al. 2023, "GenEval: An Object-Focused Framework for Evaluating Text-to-Image Alignment").

sampling.py writes GenEval's folder layout from a user's `evaluation_metadata.jsonl`; layout.py checks a folder
the way GenEval's reader walks it; rules.py is its rule engine on detections; detector.py runs Mask2Former and
clip.py the CLIP colour classifier, both from local folders through transformers; score.py ties them together.
Scores are labelled "GenEval-compatible": the rules are GenEval's, the detector runs in transformers instead of
mmdetection.
"""

# The six tasks (metadata `tag`), in GenEval's order; overall = their mean.
TASKS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")

# GenEval's object names (its object_names.txt): COCO's 80 classes in COCO order, with GenEval's spellings.
OBJECT_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote",
    "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock",
    "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)

# Its colour classes and CLIP zero-shot templates ({c}: the colour, {o}: the object name).
COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
COLOR_TEMPLATES = ("a photo of a {c} {o}", "a photo of a {c}-colored {o}", "a photo of a {c} object")
CROP_BACKGROUND = (153, 153, 153)  # "#999": what the masked-out part of a crop is filled with

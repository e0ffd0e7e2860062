"""Evaluation: COCO AP/AR identical to pycocotools (``coco``) and reports (``report``)."""

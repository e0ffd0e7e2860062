"""IoU of every (image, category) group's detections with its ground truth, by pycocotools' own C routines.

pycocotools' Python ``iou`` costs about 15 us per call on top of its per-object parsing, so with thousands
of groups the calls, not the arithmetic, dominate. Where pycocotools' compiled module exports its C functions
(Linux and macOS builds do), they are called directly through ctypes: each RLE string is parsed once into a
C array, then ``rleIou`` or ``bbIou`` runs per group on contiguous slices of it, the groups split over two
threads (ctypes releases the GIL during the call). Elsewhere, or if the direct path fails its self-check, the
same C code is reached through the Python API, one call per group. Both give the same bits: the numbers are
always pycocotools' own.
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.matching import Groups

_THREADS = 2
_lock = threading.Lock()
_native: _NativeRoutines | None | bool = False  # False: not looked up yet; None: unavailable


def group_ious(groups: Groups, dt_geometry: Sequence | np.ndarray, gt_geometry: Sequence | np.ndarray,
               gt_crowd: np.ndarray, use_native: bool = True) -> np.ndarray:
    """The flat IoU buffer ``groups`` describes (each group's (G, D) block ground-truth-major).

    Args:
        dt_geometry, gt_geometry: per detection / ground-truth position, compressed RLE dicts, or (N, 4) xywh
            boxes.
        gt_crowd: (M,) crowd flags per ground-truth position: IoU is then over the detection's area.
        use_native: False forces the Python API (for tests comparing the two).
    """
    boxes = isinstance(dt_geometry, np.ndarray)
    native = native_routines() if use_native else None
    if native is not None:
        return (native.box_ious(groups, dt_geometry, gt_geometry, gt_crowd) if boxes
                else native.rle_ious(groups, dt_geometry, gt_geometry, gt_crowd))
    return _python_api_ious(groups, dt_geometry, gt_geometry, gt_crowd)


def _python_api_ious(groups: Groups, dt_geometry, gt_geometry, gt_crowd: np.ndarray) -> np.ndarray:
    out = np.empty(groups.iou_size)
    crowd = gt_crowd.astype(np.uint8)
    for ds, dn, gs, gn, offset in zip(groups.dt_start.tolist(), groups.dt_count.tolist(), groups.gt_start.tolist(),
                                      groups.gt_count.tolist(), groups.iou_offset.tolist()):
        values = mask_utils.iou(dt_geometry[ds:ds + dn], gt_geometry[gs:gs + gn], crowd[gs:gs + gn])
        out[offset:offset + dn * gn] = np.asarray(values, dtype=np.float64).ravel(order="F")
    return out


def native_routines() -> _NativeRoutines | None:
    """pycocotools' C routines through ctypes, or None where they are not reachable (or disabled with
    INSTASEG_NATIVE_COCO=0)."""
    global _native
    with _lock:
        if _native is False:
            _native = _NativeRoutines.load() if os.environ.get("INSTASEG_NATIVE_COCO", "1") != "0" else None
        return _native


class _RLE(ctypes.Structure):  # maskApi.h: typedef struct { siz h, w, m; uint *cnts; } RLE;
    _fields_ = [("h", ctypes.c_ulong), ("w", ctypes.c_ulong), ("m", ctypes.c_ulong),
                ("cnts", ctypes.POINTER(ctypes.c_uint))]


class _NativeRoutines:
    def __init__(self, library: ctypes.CDLL) -> None:
        siz, pointer = ctypes.c_ulong, ctypes.c_void_p
        self.init, self.free = library.rlesInit, library.rlesFree
        self.init.argtypes = self.free.argtypes = [ctypes.POINTER(pointer), siz]
        self.init.restype = self.free.restype = None
        self.parse = library.rleFrString
        self.parse.argtypes, self.parse.restype = [pointer, ctypes.c_char_p, siz, siz], None
        self.rle_iou, self.box_iou = library.rleIou, library.bbIou
        for routine in (self.rle_iou, self.box_iou):
            routine.argtypes, routine.restype = [pointer, pointer, siz, siz, pointer, pointer], None

    @classmethod
    def load(cls) -> _NativeRoutines | None:
        try:
            from pycocotools import _mask

            routines = cls(ctypes.CDLL(_mask.__file__))
            return routines if routines._agrees_with_python_api() else None
        except (OSError, AttributeError, ImportError):  # symbols not exported (e.g. Windows builds)
            return None

    def _agrees_with_python_api(self) -> bool:
        masks = np.zeros((3, 12, 10), dtype=np.uint8)
        masks[0, 2:9, 1:6], masks[1, 4:12, 3:9], masks[2, 0:5, 0:10] = 1, 1, 1
        rles = [mask_utils.encode(np.asfortranarray(m)) for m in masks]
        boxes = np.array([[1.0, 2, 5, 7], [3, 4, 6, 8], [0.5, 0, 10, 5]])
        groups = Groups(dt_start=np.array([0, 1]), dt_count=np.array([3, 2]), gt_start=np.array([0, 1]),
                        gt_count=np.array([2, 2]))
        crowd = np.array([False, True, False])
        return (np.array_equal(self.rle_ious(groups, rles, rles, crowd), _python_api_ious(groups, rles, rles, crowd))
                and np.array_equal(self.box_ious(groups, boxes, boxes, crowd),
                                   _python_api_ious(groups, boxes, boxes, crowd)))

    def rle_ious(self, groups: Groups, dt_rles: Sequence[dict], gt_rles: Sequence[dict],
                 gt_crowd: np.ndarray) -> np.ndarray:
        dt_array, gt_array = ctypes.c_void_p(), ctypes.c_void_p()
        self.init(ctypes.byref(dt_array), len(dt_rles))
        self.init(ctypes.byref(gt_array), len(gt_rles))
        try:
            positions, _, _ = groups.detection_positions()
            self._parse_into(dt_array.value, dt_rles, positions.tolist())
            self._parse_into(gt_array.value, gt_rles, range(len(gt_rles)))
            return self._per_group(self.rle_iou, groups, dt_array.value, gt_array.value, ctypes.sizeof(_RLE),
                                   gt_crowd)
        finally:
            self.free(ctypes.byref(dt_array), len(dt_rles))
            self.free(ctypes.byref(gt_array), len(gt_rles))

    def _parse_into(self, array: int, rles: Sequence[dict], positions) -> None:
        parse, size = self.parse, ctypes.sizeof(_RLE)
        for position in positions:
            rle = rles[position]
            counts = rle["counts"]
            height, width = rle["size"]
            parse(array + size * position, counts.encode("ascii") if isinstance(counts, str) else counts,
                  height, width)

    def box_ious(self, groups: Groups, dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray
                 ) -> np.ndarray:
        dt_boxes = np.ascontiguousarray(dt_boxes, dtype=np.float64)
        gt_boxes = np.ascontiguousarray(gt_boxes, dtype=np.float64)
        return self._per_group(self.box_iou, groups, dt_boxes.ctypes.data, gt_boxes.ctypes.data, 32, gt_crowd,
                               threads=1, keep_alive=(dt_boxes, gt_boxes))

    @staticmethod
    def _per_group(routine, groups: Groups, dt_base: int, gt_base: int, item_size: int, gt_crowd: np.ndarray,
                   threads: int = _THREADS, keep_alive: tuple = ()) -> np.ndarray:
        out = np.empty(groups.iou_size)
        crowd = np.ascontiguousarray(gt_crowd, dtype=np.uint8)
        calls = list(zip((dt_base + item_size * groups.dt_start).tolist(), (gt_base + item_size * groups.gt_start).tolist(),
                         groups.dt_count.tolist(), groups.gt_count.tolist(),
                         (crowd.ctypes.data + groups.gt_start).tolist(),
                         (out.ctypes.data + 8 * groups.iou_offset).tolist()))

        def run(part: list) -> None:
            for call in part:
                routine(*call)

        if threads > 1 and len(calls) > 64:
            # Split where the pairs (the work) divide evenly, not the group count.
            work = np.cumsum(groups.dt_count * groups.gt_count + groups.dt_count + groups.gt_count)
            cuts = np.searchsorted(work, work[-1] * np.arange(1, threads) / threads).tolist()
            parts = [calls[a:b] for a, b in zip([0] + cuts, cuts + [len(calls)])]
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, parts))
        else:
            run(calls)
        del keep_alive
        return out

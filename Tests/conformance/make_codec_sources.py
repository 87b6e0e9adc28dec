"""Uncompressed sources for the codec fixtures (DCMTK/GDCM compress them).

usage: make_codec_sources.py OUTDIR
Writes, from pydicom's test data:
  ct16s.dcm      CT_small: 16-bit signed, one frame
  ov12.dcm       examples_overlay: 12 bits stored in 16, unsigned
  grey8.dcm      image_dfl: 8-bit grey (inflated to explicit VR LE)
  rgb8.dcm       examples_rgb_color: 8-bit RGB
  odd_rgb.dcm    SC_rgb_small_odd: 3×3 RGB (odd sizes)
  mf12.dcm       Multi-frame Grayscale Word SC: 4 frames, 12 of 16 bits
  mf8rgb.dcm     Multi-frame True Colour SC: 3 frames, 8-bit RGB
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def save(ds, name):
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(os.path.join(out, name), enforce_file_format=True)


save(pydicom.dcmread(get_testdata_file("CT_small.dcm")), "ct16s.dcm")
save(pydicom.dcmread(get_testdata_file("examples_overlay.dcm")), "ov12.dcm")
grey = pydicom.dcmread(get_testdata_file("image_dfl.dcm"))
grey.PixelData = grey.pixel_array.tobytes()
save(grey, "grey8.dcm")
save(pydicom.dcmread(get_testdata_file("examples_rgb_color.dcm")), "rgb8.dcm")
save(pydicom.dcmread(get_testdata_file("SC_rgb_small_odd.dcm")), "odd_rgb.dcm")


def multiframe(base, frames, sop_class, name):
    ds = pydicom.dcmread(get_testdata_file(base))
    ds.SOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.NumberOfFrames = len(frames)
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x0018, 0x2001)
    ds.PageNumberVector = list(range(1, len(frames) + 1))
    ds.PixelData = np.stack(frames).tobytes()
    save(ds, name)
    return ds


ov = pydicom.dcmread(get_testdata_file("examples_overlay.dcm")).pixel_array.astype(np.uint16)
frames12 = [np.clip(ov.astype(int) + 300 * k, 0, 4095).astype(np.uint16) for k in range(4)]
multiframe("examples_overlay.dcm", frames12, "1.2.840.10008.5.1.4.1.1.7.3", "mf12.dcm")
rgb = pydicom.dcmread(get_testdata_file("examples_rgb_color.dcm")).pixel_array
multiframe("examples_rgb_color.dcm", [np.roll(rgb, 40 * k, axis=1) for k in range(3)], "1.2.840.10008.5.1.4.1.1.7.4", "mf8rgb.dcm")

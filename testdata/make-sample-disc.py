#!/usr/bin/env python3
"""Builds testdata/sample-disc: a small, deliberately ordinary patient disc.

One patient with a Japanese name in ISO 2022 IR 87 (the PS3.5 Annex H
example), one CT study with two series, a DICOMDIR written by DCMTK's
dcmmkdir, plus the side files real discs carry (README.TXT, AUTORUN.INF, a
dummy viewer). Everything is invented. Re-run to regenerate; the output is
committed so the demo needs no Python.

Needs: pydicom>=3, numpy, dcmtk (dcmmkdir).
"""
import os, shutil, subprocess, sys
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample-disc")
ORG = "2.25.31415926535897932384626433832795"

def uid(*parts):
    return ORG + "." + ".".join(str(p) for p in parts)

def ct(series_no, inst_no, rows):
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = uid(3, series_no, inst_no)
    ds.StudyDate = "20240601"; ds.SeriesDate = "20240601"
    ds.StudyTime = "101500"; ds.SeriesTime = "101500"
    ds.AccessionNumber = "A240601"
    ds.Modality = "CT"
    ds.Manufacturer = "DISCPORT SAMPLE"
    ds.InstitutionName = "東京中央病院"
    ds.ReferringPhysicianName = "Suzuki^Ichiro=鈴木^一郎=すずき^いちろう"
    ds.StudyDescription = "胸部CT"
    ds.SeriesDescription = "スカウト" if series_no == 1 else "胸部 単純"
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.PatientID = "H-000123"
    ds.IssuerOfPatientID = "TOKYO-CENTRAL"
    ds.PatientBirthDate = "19700401"
    ds.PatientSex = "M"
    ds.StudyInstanceUID = uid(1)
    ds.SeriesInstanceUID = uid(2, series_no)
    ds.StudyID = "1"
    ds.SeriesNumber = series_no
    ds.InstanceNumber = inst_no
    ds.FrameOfReferenceUID = uid(4)
    ds.ImagePositionPatient = [0, 0, inst_no * 5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 5
    ds.KVP = 120
    ds.PatientPosition = "HFS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows; ds.Columns = rows
    ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024; ds.RescaleSlope = 1; ds.RescaleType = "HU"
    ds.WindowCenter = 40; ds.WindowWidth = 400
    y, x = np.mgrid[0:rows, 0:rows]
    r = np.hypot(x - rows / 2, y - rows / 2)
    img = np.where(r < rows * 0.4, 1024 + 40 + (inst_no * 7) % 50, 0).astype(np.uint16)
    img[r < rows * 0.1] = 1024 + 700
    ds.PixelData = img.tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = ORG + ".9"
    meta.ImplementationVersionName = "SAMPLE_1"
    ds.file_meta = meta
    return ds

def main():
    if os.path.exists(ROOT):
        shutil.rmtree(ROOT)
    n = 0
    for series_no, count, rows in ((1, 1, 64), (2, 4, 96)):
        d = os.path.join(ROOT, "DICOM", "PAT00001", "STU00001", "SER%05d" % series_no)
        os.makedirs(d)
        for i in range(1, count + 1):
            n += 1
            ct(series_no, i, rows).save_as(os.path.join(d, "IMG%05d" % i), enforce_file_format=True)
    subprocess.run(["dcmmkdir", "-q", "--recurse", "--input-directory", ROOT, "--output-file",
                    os.path.join(ROOT, "DICOMDIR"), "DICOM"], check=True)
    with open(os.path.join(ROOT, "README.TXT"), "w", newline="\r\n") as f:
        f.write("SAMPLE DISC - invented data for discport's demo.\n")
    with open(os.path.join(ROOT, "AUTORUN.INF"), "w", newline="\r\n") as f:
        f.write("[autorun]\nopen=VIEWER\\VIEWER.EXE\n")
    os.makedirs(os.path.join(ROOT, "VIEWER"))
    with open(os.path.join(ROOT, "VIEWER", "VIEWER.EXE"), "wb") as f:
        f.write(b"MZ" + b"\x90" * 62 + b"PE\0\0" + b"\0" * 60)
    print("wrote %d images to %s" % (n, ROOT))

if __name__ == "__main__":
    sys.exit(main())

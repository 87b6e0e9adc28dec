#!/usr/bin/env python3
"""Writes a messy patient disc of N DICOM files for the import tests and the
import benchmark, with pydicom (an independent writer):

    python3 make_import_tree.py OUT N [--patients P] [--pixels BYTES]

Patients are spread over studies of 3 series; within every 10 files: 6
explicit VR little endian Part 10, 2 implicit VR Part 10, 1 raw implicit-VR
data set without Part 10 header, 1 encapsulated (JPEG Baseline syntax, the
fragments kept verbatim). Lower-case and `;1` file names, a README and an
AUTORUN.INF complete the disc. Deterministic: the same N gives the same bytes.
"""
import argparse
import os
import random

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit,
                         SecondaryCaptureImageStorage, CTImageStorage)

ROOT = "2.25.1122334455667788"


def dataset(index, patient, study, series, pixels, rng):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage if index % 10 != 9 else SecondaryCaptureImageStorage
    ds.SOPInstanceUID = f"{ROOT}.3.{index + 1}"
    ds.StudyDate = "20240315"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"A{study:05d}"
    ds.Modality = "CT" if index % 10 != 9 else "OT"
    ds.StudyDescription = "胸部CT" if study % 2 == 0 else "Chest"
    ds.SeriesDescription = f"Series {series % 3 + 1}"
    ds.PatientName = ["Yamada^Taro", "山田^花子", "Suzuki^Ichiro"][patient % 3] + f"{patient}"
    ds.PatientID = f"F-{patient:04d}"
    ds.IssuerOfPatientID = "OTHER-HOSPITAL"
    ds.PatientBirthDate = f"19{50 + patient % 40:02d}0101"
    ds.PatientSex = "MF"[patient % 2]
    ds.StudyInstanceUID = f"{ROOT}.1.{study}"
    ds.SeriesInstanceUID = f"{ROOT}.2.{series}"
    ds.StudyID = str(study)
    ds.SeriesNumber = series % 3 + 1
    ds.InstanceNumber = index + 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    side = int((pixels // 2) ** 0.5)
    ds.Rows = side
    ds.Columns = side
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = rng.randbytes(side * side * 2)
    return ds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("count", type=int)
    parser.add_argument("--patients", type=int, default=1)
    parser.add_argument("--pixels", type=int, default=8192, help="pixel bytes per image")
    args = parser.parse_args()
    rng = random.Random(args.count)
    per_patient = max(1, args.count // args.patients)
    os.makedirs(args.out, exist_ok=True)
    for index in range(args.count):
        patient = min(index // per_patient, args.patients - 1)
        study = patient * 1000 + (index % per_patient) // 300
        series = study * 10 + index % 3
        ds = dataset(index, patient, study, series, args.pixels, rng)
        folder = os.path.join(args.out, "dicom", f"p{patient:04d}", f"s{study:06d}")
        os.makedirs(folder, exist_ok=True)
        kind = index % 10
        name = f"im{index:06d}" + (";1" if kind == 3 else "")
        path = os.path.join(folder, name)
        if kind == 8:      # raw data set, implicit VR, no Part 10 header
            ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if kind == 9:      # encapsulated: two fragments of opaque bytes, kept as they are
            ds.BitsAllocated = 8
            ds.BitsStored = 8
            ds.HighBit = 7
            ds.PhotometricInterpretation = "YBR_FULL_422"
            ds.PixelData = encapsulate([b"\xff\xd8" + rng.randbytes(1000) + b"\xff\xd9"])
            ds["PixelData"].VR = "OB"
            ds.LossyImageCompression = "01"
            meta.TransferSyntaxUID = JPEGBaseline8Bit
        elif kind in (6, 7):
            meta.TransferSyntaxUID = ImplicitVRLittleEndian
        else:
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.save_as(path, enforce_file_format=True)
    with open(os.path.join(args.out, "README.TXT"), "w") as f:
        f.write("Patient images. Open VIEWER.EXE.\r\n")
    with open(os.path.join(args.out, "AUTORUN.INF"), "w") as f:
        f.write("[autorun]\r\nopen=VIEWER.EXE\r\n")


if __name__ == "__main__":
    main()

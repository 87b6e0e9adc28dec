#!/usr/bin/env python3
"""Fixtures for the network tests, written with pydicom (an independent writer):

    python3 make_network_fixtures.py OUT [--disc | --worklist YYYYMMDD]

Two Japanese patients, one in ISO 2022 IR 87 (JIS X 0208 with escape
sequences, implicit VR) and one in ISO_IR 192 (UTF-8, explicit VR), two
series each, one large instance (4 MB of pixel data, to cross many PDV
fragments), a raw data set without Part 10 header and a JPEG Baseline
(encapsulated) instance. With --disc: one instance of the ISO 2022 IR 87
patient under another hospital's Patient ID (reconciliation against the PACS).
Deterministic.
"""
import os
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit,
                         SecondaryCaptureImageStorage, CTImageStorage)

ROOT = "2.25.99887766554433"


def instance(out, name, patient, study, series, n, charset, person, pid, birth, sex,
             syntax=ExplicitVRLittleEndian, pixels=256, raw=False, sop_class=SecondaryCaptureImageStorage):
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = f"{ROOT}.3.{patient}{study}{series}{n}"
    ds.StudyDate, ds.StudyTime = "20250102", "093000"
    ds.AccessionNumber = f"ACC{patient}{study}"
    ds.Modality = "OT" if sop_class == SecondaryCaptureImageStorage else "CT"
    ds.StudyDescription = "胸部" if patient == 1 else "頭部"
    ds.SeriesDescription = f"シリーズ{series}"
    ds.PatientName = person
    ds.PatientID = pid
    ds.PatientBirthDate, ds.PatientSex = birth, sex
    ds.StudyInstanceUID = f"{ROOT}.1.{patient}{study}"
    ds.SeriesInstanceUID = f"{ROOT}.2.{patient}{study}{series}"
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = str(study), series, n
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    side = int(pixels ** 0.5)
    ds.Rows = ds.Columns = side
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    data = bytes((i * 7 + n) % 256 for i in range(side * side))
    if syntax == JPEGBaseline8Bit:
        # Not a real JPEG stream: the bytes travel verbatim, never decoded.
        ds.PixelData = encapsulate([b"\xff\xd8" + data[:100] + b"\xff\xd9"])
        ds["PixelData"].VR = "OB"
        ds.PhotometricInterpretation = "YBR_FULL_422"
    else:
        ds.PixelData = data
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if raw:
        ds.save_as(path, implicit_vr=True, little_endian=True)
        return
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def worklist(out, date):
    """Two scheduled procedure steps on `date` for station DISCPORT, as
    DCMTK wlmscpfs reads them (OUT/WLM/*.wl and a lockfile)."""
    folder = os.path.join(out, "WLM")
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, "lockfile"), "w").close()
    for n, (name, pid, birth, sex) in enumerate([
            ("YAMADA^TAROU=山田^太郎=やまだ^たろう", "JP-0001", "19700401", "M"),
            ("Suzuki^Jiro=鈴木^次郎=すずき^じろう", "JP-0003", "19600707", "M")], start=1):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = name, pid, birth, sex
        ds.AccessionNumber = f"WL{n}"
        ds.StudyInstanceUID = f"{ROOT}.8.{n}"
        ds.RequestedProcedureDescription = "持参CD取込"
        ds.RequestedProcedureID = f"RP{n}"
        step = Dataset()
        step.Modality = "OT"
        step.ScheduledStationAETitle = "DISCPORT"
        step.ScheduledProcedureStepStartDate = date
        step.ScheduledProcedureStepStartTime = "090000"
        step.ScheduledProcedureStepDescription = "import"
        step.ScheduledProcedureStepID = f"SPS{n}"
        step.ScheduledPerformingPhysicianName = ""
        ds.ScheduledProcedureStepSequence = [step]
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
        meta.MediaStorageSOPInstanceUID = f"{ROOT}.9.{n}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.save_as(os.path.join(folder, f"sps{n}.wl"), enforce_file_format=True)


def main():
    out = sys.argv[1]
    if "--worklist" in sys.argv:
        worklist(out, sys.argv[sys.argv.index("--worklist") + 1])
        return
    jis = ["", "ISO 2022 IR 87"]
    yamada = "YAMADA^TAROU=山田^太郎=やまだ^たろう"
    if "--disc" in sys.argv:
        # A disc from another hospital: same person as JP-0001, its own ID.
        instance(out, "IM1", 9, 1, 1, 1, jis, yamada, "X-998877", "19700401", "M")
        return
    sato = "Sato^Hanako=佐藤^花子=さとう^はなこ"
    for series in (1, 2):
        for n in (1, 2, 3):
            instance(out, f"jis/s{series}/im{n}", 1, 1, series, n, jis, yamada, "JP-0001", "19700401", "M",
                     syntax=ImplicitVRLittleEndian)
            instance(out, f"utf8/s{series}/im{n}", 2, 1, series, n, "ISO_IR 192", sato, "JP-0002", "19850505", "F")
    instance(out, "utf8/large", 2, 1, 3, 1, "ISO_IR 192", sato, "JP-0002", "19850505", "F",
             pixels=2048 * 2048, sop_class=CTImageStorage)
    instance(out, "utf8/raw", 2, 1, 3, 2, "ISO_IR 192", sato, "JP-0002", "19850505", "F", raw=True)
    instance(out, "utf8/jpeg", 2, 1, 4, 1, "ISO_IR 192", sato, "JP-0002", "19850505", "F", syntax=JPEGBaseline8Bit)


main()

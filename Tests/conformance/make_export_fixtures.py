#!/usr/bin/env python3
"""Writes clean DICOM sources for the export tests, with pydicom (an
independent writer): python3 make_export_fixtures.py OUT

OUT/a  patient EXP-A (Japanese name, ISO 2022 IR 87): Secondary Capture
       images in Explicit VR LE, Implicit VR LE (Part 10) and a raw implicit
       data set without Part 10 header, and an Encapsulated PDF; 2 studies.
OUT/b  patient EXP-B: a JPEG Baseline Secondary Capture (decompressed on CD).
OUT/c  patient EXP-C: an image whose study lacks Study ID (Type 1 in the
       STUDY record: refused without --invent).
"""
import os
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

ROOT = "2.25.99887766554433"
SC = "1.2.840.10008.5.1.4.1.1.7"
PDF = "1.2.840.10008.5.1.4.1.1.104.1"


def common(ds, patient, study, series, index):
    ds.SpecificCharacterSet = patient.get("charset", "ISO_IR 6") if "charset" in patient else None
    if ds.SpecificCharacterSet is None:
        del ds.SpecificCharacterSet
    ds.InstanceCreationDate = "20240601"
    ds.InstanceCreationTime = "101500"
    ds.SOPInstanceUID = f"{ROOT}.{patient['n']}.3.{study}.{series}.{index}"
    ds.StudyDate = "20240601"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"ACC{study}"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = patient.get("study", "Chest")
    ds.PatientName = patient["name"]
    ds.PatientID = patient["id"]
    ds.PatientBirthDate = "19700401"
    ds.PatientSex = "M"
    ds.StudyInstanceUID = f"{ROOT}.{patient['n']}.1.{study}"
    ds.SeriesInstanceUID = f"{ROOT}.{patient['n']}.2.{study}.{series}"
    if patient.get("study_id", True):
        ds.StudyID = str(study)
    else:
        ds.StudyID = ""
    ds.SeriesNumber = series
    ds.InstanceNumber = index
    ds.Manufacturer = "discport tests"
    ds.PatientOrientation = ""
    ds.ConversionType = "WSD"


def image(patient, study, series, index, jpeg=False):
    ds = Dataset()
    ds.SOPClassUID = SC
    common(ds, patient, study, series, index)
    ds.Modality = "OT"
    ds.Laterality = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 16
    ds.Columns = 16
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes((i * 7 + index) % 256 for i in range(256))
    if jpeg:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = "10"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        # A real baseline JPEG (Pillow/libjpeg, 4:2:2), so a CD export can decompress it.
        import io
        from PIL import Image
        picture = Image.new("RGB", (16, 16))
        picture.putdata([((i * 7 + index) % 256, (i * 3) % 256, 128) for i in range(256)])
        stream = io.BytesIO()
        picture.save(stream, format="JPEG", quality=90, subsampling=1)
        ds.PixelData = encapsulate([stream.getvalue()])
        ds["PixelData"].VR = "OB"
    return ds


def pdf(patient, study, series, index):
    ds = Dataset()
    ds.SOPClassUID = PDF
    common(ds, patient, study, series, index)
    del ds.PatientOrientation
    ds.Modality = "DOC"
    ds.ContentDate = "20240601"
    ds.ContentTime = "101500"
    ds.AcquisitionDateTime = "20240601101500"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Referral letter"
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    body = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    ds.EncapsulatedDocumentLength = len(body)
    ds.EncapsulatedDocument = body + (b"\0" if len(body) % 2 else b"")
    return ds


def save(ds, path, syntax):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if syntax is None:
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
        return
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def main():
    out = sys.argv[1]
    a = {"n": 1, "id": "EXP-A", "name": "Yamada^Tarou=山田^太郎=やまだ^たろう", "charset": ["", "ISO 2022 IR 87"], "study": "胸部CT"}
    for study in (1, 2):
        for series in (1, 2):
            for index in (1, 2, 3):
                syntax = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, None][index - 1]
                save(image(a, study, series, index), f"{out}/a/s{study}/se{series}/im{index}.dcm", syntax)
    save(pdf(a, 1, 9, 1), f"{out}/a/s1/doc/report.dcm", ExplicitVRLittleEndian)
    b = {"n": 2, "id": "EXP-B", "name": "Suzuki^Hanako"}
    save(image(b, 1, 1, 1, jpeg=True), f"{out}/b/jpeg1", JPEGBaseline8Bit)
    save(image(b, 1, 1, 2), f"{out}/b/plain2", ExplicitVRLittleEndian)
    c = {"n": 3, "id": "EXP-C", "name": "Tanaka^Jiro", "study_id": False}
    save(image(c, 1, 1, 1), f"{out}/c/im1", ExplicitVRLittleEndian)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the inputs of the `discport convert` tests into a folder (Pillow).

usage: make_convert_fixtures.py DIR [--bench JPEGS PDFS]

Default set (every kind the converter handles, plus the ones it must refuse):
  baseline.jpg       baseline 4:2:0 JPEG with EXIF (GPS, camera, owner, DateTimeOriginal), a COM
                     segment and XMP (all must be left out) and an ICC profile (kept as ICC Profile)
  odd.jpg            baseline JPEG of odd length (fragment padding)
  gray.jpg           baseline grayscale JPEG
  rotated.jpg        baseline JPEG with EXIF Orientation 6 (decoded and turned upright)
  progressive.jpg    progressive JPEG (decoded)
  cmyk.jpg           Adobe CMYK JPEG (decoded, converted to RGB)
  photo.png rgba.png palette.png gray16.png
  scan.tif           two-page RGB TIFF (LZW) -> one multi-frame SC
  gray.tif           8-bit grayscale TIFF
  image.bmp          24-bit BMP
  report.pdf         a small valid PDF, Info /Title in UTF-16BE (Japanese), /CreationDate
  notitle.pdf        a PDF without Info dictionary
  objstm.pdf         PDF 1.5: cross-reference stream (PNG predictor), Info in a
                     compressed object stream, an incremental update with /Prev
  truncated.pdf      cut before %%EOF        (must be refused)
  encrypted.pdf      /Encrypt in the trailer (must be refused)
  mislabelled.pdf    text with a .pdf name   (must be refused)
--bench N M: N photo-sized baseline JPEGs (with EXIF) and M PDFs only.
"""
import io
import zlib
import os
import sys

from PIL import Image, ImageDraw

GPS = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}


def picture(w, h, seed=0, mode="RGB"):
    img = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(img)
    for i in range(0, w, 7):
        d.line([(i, 0), (w - i, h)], fill=((i * 3 + seed) % 256, (i * 5) % 256, (255 - i + seed) % 256), width=3)
    d.ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], outline=(250, 240, 10), width=5)
    d.rectangle([5, 5, 40, 30], fill=(200, 30, 30))   # marks the top-left corner
    return img.convert(mode) if mode != "RGB" else img


def exif(orientation=1, when="2023:04:05 10:11:12"):
    e = Image.Exif()
    e[0x010F] = "ACME Phones"          # Make
    e[0x0110] = "Model X"              # Model
    e[0x013B] = "Dr. Hidden Owner"     # Artist
    e[0x8298] = "Private Clinic"       # Copyright
    e[0x0112] = orientation
    e[0x0132] = when
    e.get_ifd(0x8769)[0x9003] = when   # DateTimeOriginal
    e.get_ifd(0x8769)[0xA430] = "Camera Owner Name"
    gps = e.get_ifd(0x8825)
    for k, v in GPS.items():
        gps[k] = v
    return e


def add_com(jpeg_bytes, text):
    """Inserts a COM segment after SOI."""
    body = text.encode()
    seg = b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body
    return jpeg_bytes[:2] + seg + jpeg_bytes[2:]


def jpeg(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def pdf(title_utf16=None, date="D:20220314091500+09'00'", info=True, encrypt=False, pages=2):
    objs = []
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objs.append("<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>")
    content_ids = []
    for i in range(pages):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents {3 + pages + i} 0 R "
                    f"/Resources << /Font << /F1 {3 + 2 * pages} 0 R >> >> >>")
    for i in range(pages):
        stream = f"BT /F1 18 Tf 30 100 Td (Referral letter page {i + 1}) Tj ET 0 0 1 rg 20 20 80 40 re f"
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        content_ids.append(3 + pages + i)
    objs.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    info_id = None
    if info:
        title = "<FEFF" + title_utf16.encode("utf-16-be").hex().upper() + ">" if title_utf16 else "(Plain title)"
        objs.append(f"<< /Title {title} /Author (Dr. A) /CreationDate ({date}) >>")
        info_id = len(objs)
    enc_id = None
    if encrypt:
        objs.append("<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>")
        enc_id = len(objs)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for o in offsets:
        out += f"{o:010d} 00000 n \n".encode()
    trailer = f"<< /Size {len(objs) + 1} /Root 1 0 R"
    if info_id:
        trailer += f" /Info {info_id} 0 R"
    if enc_id:
        trailer += f" /Encrypt {enc_id} 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]"
    trailer += " >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def default_set(d):
    base = picture(320, 240)
    try:   # a real sRGB profile: carried into ICC Profile (0028,2000), not dropped
        from PIL import ImageCms
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:
        icc = b"\0" * 128
    data = jpeg(base, quality=85, exif=exif().tobytes(), icc_profile=icc, xmp=b"<x:xmpmeta>GPS 35N 139E</x:xmpmeta>")
    write(d, "baseline.jpg", add_com(data, "patient: Taro Yamada"))
    odd = jpeg(picture(161, 97, seed=9), quality=90)
    if len(odd) % 2 == 0:
        odd = add_com(odd, "x")   # COM of 3 bytes: odd again
    write(d, "odd.jpg", odd)
    write(d, "gray.jpg", jpeg(picture(200, 150, 40, "L"), quality=80))
    write(d, "rotated.jpg", jpeg(picture(240, 160, 80), quality=85, exif=exif(orientation=6).tobytes()))
    write(d, "progressive.jpg", jpeg(picture(300, 200, 120), quality=80, progressive=True))
    write(d, "cmyk.jpg", jpeg(picture(120, 90, 160).convert("CMYK"), quality=90))
    picture(150, 100, 200).save(os.path.join(d, "photo.png"))
    rgba = picture(100, 80, 10).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(os.path.join(d, "rgba.png"))
    picture(90, 60, 30).convert("P", palette=Image.ADAPTIVE, colors=16).save(os.path.join(d, "palette.png"))
    g16 = Image.new("I;16", (64, 48))
    g16.putdata([(x * 1000 + y * 7) % 65536 for y in range(48) for x in range(64)])
    g16.save(os.path.join(d, "gray16.png"))
    pages = [picture(200, 140, 50), picture(200, 140, 90)]
    pages[0].save(os.path.join(d, "scan.tif"), save_all=True, append_images=pages[1:], compression="tiff_lzw")
    picture(120, 80, 70, "L").save(os.path.join(d, "gray.tif"))
    picture(130, 70, 60).save(os.path.join(d, "image.bmp"))
    write(d, "report.pdf", pdf(title_utf16="紹介状 Referral"))
    write(d, "notitle.pdf", pdf(info=False, pages=1))
    write(d, "objstm.pdf", objstm_pdf("圧縮された報告 Report", "D:20230607080910+09'00'", "Old title"))
    good = pdf(title_utf16="x")
    write(d, "truncated.pdf", good[: len(good) - 40])
    write(d, "encrypted.pdf", pdf(encrypt=True))
    write(d, "mislabelled.pdf", b"This is not a PDF but a text file someone renamed.\n")


def objstm_pdf(title, date, old_title):
    """A PDF 1.5 as qpdf --object-streams=generate writes it: a cross-reference
    stream (FlateDecode, PNG Up predictor) and the Info dictionary inside a
    compressed object stream; then an incremental update whose newer Info
    (also compressed) and XRef stream point back with /Prev."""
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}

    def obj(n, body):
        offsets[n] = len(out)
        out.extend(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")

    def stream(dictionary, data):
        return f"<< {dictionary} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"

    def utf16(text):
        return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"

    def objstm(n, holds, body):
        header = f"{holds} 0 "
        obj(n, stream(f"/Type /ObjStm /N 1 /First {len(header)} /Filter /FlateDecode",
                      zlib.compress((header + body).encode("latin-1"))))

    def xref(n, rows, extra):
        start = len(out)
        offsets[n] = start
        raw, prev = b"", bytes(7)
        index = []
        for number, row in rows:
            if row is None:
                row = (1, offsets[number], 0) if number != n else (1, start, 0)
            kind, f2, f3 = row
            packed = bytes([kind]) + f2.to_bytes(4, "big") + f3.to_bytes(2, "big")
            raw += b"\x02" + bytes((a - b) & 0xFF for a, b in zip(packed, prev))
            prev = packed
            index += [number, 1]
        out.extend(f"{n} 0 obj\n".encode() + stream(
            f"/Type /XRef /Size {n + 1} /W [1 4 2] /Index [{' '.join(map(str, index))}] /Root 1 0 R {extra} "
            "/Filter /FlateDecode /DecodeParms << /Columns 7 /Predictor 12 >>", zlib.compress(raw)) + b"\nendobj\n")
        return start

    obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    content = b"BT /F1 18 Tf 30 100 Td (Object stream report) Tj ET"
    obj(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> >>")
    obj(4, stream("", content))
    obj(5, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objstm(7, 6, f"<< /Title {utf16(old_title)} /CreationDate (D:20190101000000Z) >>")
    first = xref(8, [(0, (0, 0, 0xFFFF))] + [(k, None) for k in range(1, 6)] + [(6, (2, 7, 0)), (7, None), (8, None)],
                 "/Info 6 0 R")
    out.extend(f"startxref\n{first}\n%%EOF\n".encode())
    objstm(9, 10, f"<< /Title {utf16(title)} /CreationDate ({date}) >>")
    second = xref(11, [(9, None), (10, (2, 9, 0)), (11, None)], f"/Info 10 0 R /Prev {first}")
    out.extend(f"startxref\n{second}\n%%EOF\n".encode())
    return bytes(out)


def bench_set(d, jpegs, pdfs):
    photo = picture(1600, 1200, 5)
    data = jpeg(photo, quality=88, exif=exif().tobytes())
    for i in range(jpegs):
        write(d, f"photo{i:04d}.jpg", data)
    doc = pdf(title_utf16="Referral letter", pages=3)
    for i in range(pdfs):
        write(d, f"letter{i:04d}.pdf", doc)


if __name__ == "__main__":
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    if len(sys.argv) > 2 and sys.argv[2] == "--bench":
        bench_set(folder, int(sys.argv[3]), int(sys.argv[4]))
    else:
        default_set(folder)

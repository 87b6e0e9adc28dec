import DICOM
import Foundation

/// Turns a DICOM object with JPEG Baseline or Extended (8-bit) pixel data
/// into uncompressed Explicit VR Little Endian, for media profiles that allow
/// nothing else (STD-GEN-CD, PS3.11 Annex D) — the export side's use of the
/// converter's decoder.
///
/// Pixels are decoded as any viewer would show them (YCbCr converted to
/// RGB, Photometric Interpretation RGB); Lossy Image Compression stays
/// `01` (it records that the pixels went through lossy compression once),
/// with ratio and method kept or, when missing, the method added.
public enum JPEGDecompression {
    public static func decompress(_ file: DICOMFile) throws(ConvertError) -> DICOMFile {
        let syntax = file.transferSyntax
        guard syntax == .jpegBaseline || syntax == .jpegExtended else {
            throw ConvertError(.unsupported, "transfer syntax \(syntax.uid) is not JPEG Baseline or Extended")
        }
        var ds = file.dataset
        guard let encapsulated = ds[.pixelData]?.fragments else { throw ConvertError(.damaged, "no encapsulated pixel data") }
        let frameCount = ds.firstString(.numberOfFrames).flatMap { Int($0) } ?? 1
        let streams: [Data]
        if frameCount == 1 {
            var whole = Data()
            encapsulated.fragments.forEach { whole.append($0) }
            streams = [whole]
        } else if encapsulated.fragments.count == frameCount {
            streams = encapsulated.fragments
        } else {
            throw ConvertError(.unsupported, "\(frameCount) frames in \(encapsulated.fragments.count) fragments: frames split across fragments are not supported")
        }
        var pixels = Data()
        var first: DecodedImage?
        for stream in streams {
            let parsed = try JPEGStream(stream)
            guard parsed.precision == 8 else { throw ConvertError(.unsupported, "\(parsed.precision)-bit JPEG cannot be decoded here") }
            let image = try ImageDecoder.jpeg(stream, adobeTransform: parsed.adobeTransform)
            if let first, first.columns != image.columns || first.rows != image.rows || first.samplesPerPixel != image.samplesPerPixel {
                throw ConvertError(.damaged, "frames of different size")
            }
            first = first ?? image
            pixels.append(image.frames[0])
        }
        guard let image = first else { throw ConvertError(.damaged, "no frames") }
        guard image.columns == ds.integer(.columns), image.rows == ds.integer(.rows) else {
            throw ConvertError(.damaged, "the JPEG stream is \(image.columns)×\(image.rows), the data set says \(ds.integer(.columns) ?? 0)×\(ds.integer(.rows) ?? 0)")
        }
        do {
            ds.setIntegers([image.samplesPerPixel], vr: .US, for: .samplesPerPixel)
            try ds.setString(image.photometricInterpretation, vr: .CS, for: .photometricInterpretation)
            if image.samplesPerPixel > 1 { ds.setIntegers([0], vr: .US, for: .planarConfiguration) } else { ds.remove(.planarConfiguration) }
            ds.setIntegers([8], vr: .US, for: .bitsAllocated)
            ds.setIntegers([8], vr: .US, for: .bitsStored)
            ds.setIntegers([7], vr: .US, for: .highBit)
            try ds.setString("01", vr: .CS, for: .lossyImageCompression)
            if ds[.lossyImageCompressionMethod] == nil { try ds.setString("ISO_10918_1", vr: .CS, for: .lossyImageCompressionMethod) }
        } catch {
            throw ConvertError(.invalidOption, "cannot set image attributes: \(error)")
        }
        ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: pixels))
        var out = file
        out.dataset = ds
        out.transferSyntax = .explicitVRLittleEndian
        out.meta.remove(.transferSyntaxUID)
        return out
    }
}

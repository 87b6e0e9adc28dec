import DICOM
import Foundation

/// The Image Pixel module attributes that say how pixel data is laid out
/// (PS3.3 §C.7.6.3).
public struct ImagePixel: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var highBit: Int
    /// 0 unsigned, 1 two's complement.
    public var pixelRepresentation: Int
    /// 0 colour-by-pixel (R1G1B1R2…), 1 colour-by-plane (R…G…B…).
    public var planarConfiguration: Int
    public var photometricInterpretation: String
    public var numberOfFrames: Int

    public init(rows: Int, columns: Int, samplesPerPixel: Int, bitsAllocated: Int, bitsStored: Int, highBit: Int? = nil,
                pixelRepresentation: Int = 0, planarConfiguration: Int = 0, photometricInterpretation: String, numberOfFrames: Int = 1) {
        self.rows = rows
        self.columns = columns
        self.samplesPerPixel = samplesPerPixel
        self.bitsAllocated = bitsAllocated
        self.bitsStored = bitsStored
        self.highBit = highBit ?? bitsStored - 1
        self.pixelRepresentation = pixelRepresentation
        self.planarConfiguration = planarConfiguration
        self.photometricInterpretation = photometricInterpretation
        self.numberOfFrames = numberOfFrames
    }

    /// Reads the attributes from a data set; missing or impossible values are an error.
    public init(_ dataset: Dataset) throws(DICOMError) {
        func required(_ tag: Tag, _ name: String) throws(DICOMError) -> Int {
            guard let value = dataset.integer(tag) else {
                throw DICOMError(.invalidValue, "the image has no \(name) \(tag)", tag: tag)
            }
            return value
        }
        rows = try required(.rows, "Rows")
        columns = try required(.columns, "Columns")
        bitsAllocated = try required(.bitsAllocated, "Bits Allocated")
        samplesPerPixel = dataset.integer(.samplesPerPixel) ?? 1
        bitsStored = dataset.integer(.bitsStored) ?? bitsAllocated
        highBit = dataset.integer(.highBit) ?? bitsStored - 1
        pixelRepresentation = dataset.integer(.pixelRepresentation) ?? 0
        planarConfiguration = samplesPerPixel > 1 ? (dataset.integer(.planarConfiguration) ?? 0) : 0
        photometricInterpretation = dataset.firstString(.photometricInterpretation) ?? (samplesPerPixel == 3 ? "RGB" : "MONOCHROME2")
        numberOfFrames = max(1, dataset.integer(.numberOfFrames) ?? 1)
        guard rows > 0, columns > 0, [1, 8, 16, 32].contains(bitsAllocated), (1...bitsAllocated).contains(bitsStored),
              samplesPerPixel == 1 || samplesPerPixel == 3 || samplesPerPixel == 4 else {
            throw DICOMError(.invalidValue, "unsupported image layout: \(rows)×\(columns), \(samplesPerPixel) sample(s) per pixel, Bits Allocated \(bitsAllocated), Bits Stored \(bitsStored)")
        }
    }

    /// Bytes of one sample in native pixel data (0 for 1-bit data).
    public var bytesPerSample: Int { bitsAllocated / 8 }

    /// Bytes of one frame in native pixel data (bit-packed for Bits Allocated
    /// 1; for YBR_FULL_422 two samples a pixel, each pair of pixels being
    /// Y Y Cb Cr, PS3.3 §C.7.6.3.1.2).
    public var frameLength: Int {
        let samples = isSubsampled422 ? rows * columns * 2 : rows * columns * samplesPerPixel
        return bitsAllocated == 1 ? (samples + 7) / 8 : samples * bytesPerSample
    }

    /// Native YBR_FULL_422: the chrominance of each pair of pixels stored once.
    public var isSubsampled422: Bool { photometricInterpretation == "YBR_FULL_422" && samplesPerPixel == 3 }

    /// Bytes of native pixel data holding every frame: for Bits Allocated 1
    /// the frames follow each other bit by bit, not each padded to a byte
    /// (PS3.5 §8.1.1), so this can be less than frames × ``frameLength``.
    public var pixelDataLength: Int {
        bitsAllocated == 1 ? (rows * columns * samplesPerPixel * numberOfFrames + 7) / 8 : frameLength * numberOfFrames
    }

    public var isSigned: Bool { pixelRepresentation == 1 }
    public var isColor: Bool { samplesPerPixel > 1 }
}

/// Pixel data decoded to the native layout: every frame, little-endian
/// samples of Bits Allocated, each frame ``ImagePixel/frameLength`` bytes.
public struct DecodedPixels: Sendable {
    /// The layout of `data`: photometric interpretation and planar
    /// configuration as they are after decompression.
    public var pixel: ImagePixel
    /// All frames, one after the other.
    public var data: Data
    /// The source was lossy-compressed (its transfer syntax, or a lossy
    /// JPEG-LS/J2K stream), so the pixels differ from the original.
    public var wasLossy: Bool

    public init(pixel: ImagePixel, data: Data, wasLossy: Bool) {
        self.pixel = pixel
        self.data = data
        self.wasLossy = wasLossy
    }

    /// One frame's bytes.
    public func frame(_ index: Int) -> Data {
        let length = pixel.frameLength
        let start = data.startIndex + index * length
        return data[start..<(start + length)]
    }
}

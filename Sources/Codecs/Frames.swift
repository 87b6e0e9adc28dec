import DICOM
import Foundation

/// Splits encapsulated pixel data into frames (PS3.5 §A.4): by the
/// Extended Offset Table, the Basic Offset Table, one fragment per frame, or
/// the end-of-image markers that close each frame's last fragment.
public enum EncapsulatedFrames {
    public static func frames(of encapsulated: EncapsulatedPixelData, count: Int, in dataset: Dataset) throws(DICOMError) -> [Data] {
        let fragments = encapsulated.fragments
        guard !fragments.isEmpty else { throw DICOMError(.malformed, "encapsulated pixel data has no fragments", tag: .pixelData) }
        if count == 1 { return [concatenate(fragments[...])] }

        // Offsets of each fragment's item tag from the first fragment's item tag.
        var positions: [UInt64] = []
        positions.reserveCapacity(fragments.count + 1)
        var position: UInt64 = 0
        for fragment in fragments {
            positions.append(position)
            position += 8 + UInt64(fragment.count)
        }
        positions.append(position)

        func byOffsets(_ offsets: [UInt64], source: String) throws(DICOMError) -> [Data] {
            guard offsets.count == count, offsets.first == 0, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw DICOMError(.malformed, "the \(source) has \(offsets.count) offset(s) for \(count) frames or is not increasing", tag: .pixelData)
            }
            var frames: [Data] = []
            for (index, start) in offsets.enumerated() {
                let end = index + 1 < offsets.count ? offsets[index + 1] : position
                guard let first = positions.firstIndex(of: start), let last = positions.firstIndex(of: end), first < last else {
                    throw DICOMError(.malformed, "the \(source) offset \(start) of frame \(index + 1) is not at a fragment", tag: .pixelData)
                }
                frames.append(concatenate(fragments[first..<last]))
            }
            return frames
        }

        if let table = dataset[.extendedOffsetTable]?.bytes, !table.isEmpty {
            let offsets = DICOMBinary.integers(table, vr: .OV).map { UInt64(bitPattern: Int64($0)) }
            return try byOffsets(offsets, source: "Extended Offset Table")
        }
        if !encapsulated.offsetTable.isEmpty {
            let offsets = DICOMBinary.integers(encapsulated.offsetTable, vr: .UL).map { UInt64($0) }
            return try byOffsets(offsets, source: "Basic Offset Table")
        }
        if fragments.count == count { return fragments }
        // Several fragments per frame and no table: a frame ends with the
        // fragment that ends in an EOI/EOC marker (FFD9, maybe padded).
        var frames: [Data] = []
        var start = 0
        for (index, fragment) in fragments.enumerated() where endsWithEOI(fragment) {
            frames.append(concatenate(fragments[start...index]))
            start = index + 1
        }
        guard frames.count == count, start == fragments.count else {
            throw DICOMError(.malformed, "\(fragments.count) fragments without an offset table cannot be split into \(count) frames", tag: .pixelData)
        }
        return frames
    }

    static func endsWithEOI(_ data: Data) -> Bool {
        var end = data.endIndex
        while end > data.startIndex && data[end - 1] == 0 { end -= 1 }
        return end - data.startIndex >= 2 && data[end - 2] == 0xFF && data[end - 1] == 0xD9
    }

    static func concatenate(_ parts: ArraySlice<Data>) -> Data {
        if parts.count == 1 { return parts.first! }
        var out = Data(capacity: parts.reduce(0) { $0 + $1.count })
        for part in parts { out.append(part) }
        return out
    }
}

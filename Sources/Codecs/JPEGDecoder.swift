import DICOM
import Foundation

/// What a JPEG stream declares in its frame header.
struct JPEGFrameHeader: Sendable {
    /// SOF marker: 0xC0 baseline, 0xC1 extended, 0xC2 progressive, 0xC3 lossless, …
    var process: UInt8
    var precision: Int
    var width: Int
    var height: Int
    var components: Int

    /// Reads markers up to the first SOFn.
    static func read(_ data: Data) throws(DICOMError) -> JPEGFrameHeader {
        let bytes = [UInt8](data.prefix(65536))
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
            throw DICOMError(.malformed, "the JPEG stream does not start with SOI", tag: .pixelData)
        }
        var i = 2
        while i + 4 <= bytes.count {
            guard bytes[i] == 0xFF else { i += 1; continue }
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
                guard i + 10 <= bytes.count else { break }
                return JPEGFrameHeader(process: marker, precision: Int(bytes[i + 4]),
                                       width: Int(bytes[i + 7]) << 8 | Int(bytes[i + 8]),
                                       height: Int(bytes[i + 5]) << 8 | Int(bytes[i + 6]), components: Int(bytes[i + 9]))
            }
            i += 2 + length
        }
        throw DICOMError(.malformed, "the JPEG stream has no frame header (SOF)", tag: .pixelData)
    }
}

/// A JPEG decoder in Swift for what Debian 12's libjpeg-turbo 2.1 cannot do:
/// lossless Huffman JPEG (ITU T.81 Annex H, process 14, any predictor,
/// 2–16 bits) and 12-bit sequential DCT (process 4, Huffman). Output:
/// one plane of samples per component.
struct JPEGDecoder {
    struct Component {
        var id: UInt8
        var h: Int
        var v: Int
        var quantTable: Int
        var dcTable = 0
        var acTable = 0
        var blocksPerLine = 0
        var blocksPerColumn = 0
        var width = 0
        var height = 0
        var plane: [Int32] = []
        var dcPrediction: Int32 = 0
    }

    struct HuffmanTable {
        /// 9-bit lookup: (length << 8 | value), 0 when the code is longer.
        var lookup = [UInt16](repeating: 0, count: 512)
        var maxCode = [Int32](repeating: -1, count: 18)
        var valueOffset = [Int32](repeating: 0, count: 18)
        var values: [UInt8] = []

        init() {}

        init(counts: [UInt8], values: [UInt8]) throws(DICOMError) {
            self.values = values
            var code: Int32 = 0
            var k: Int32 = 0
            for length in 1...16 {
                let n = Int32(counts[length - 1])
                if n > 0 {
                    valueOffset[length] = k - code
                    for _ in 0..<n {
                        if length <= 9 {
                            let shift = 9 - length
                            let first = Int(code) << shift
                            for fill in 0..<(1 << shift) where first + fill < 512 {
                                lookup[first + fill] = UInt16(length) << 8 | UInt16(values[Int(k)])
                            }
                        }
                        code += 1
                        k += 1
                    }
                    maxCode[length] = code - 1
                }
                code <<= 1
            }
            maxCode[17] = Int32.max
        }
    }

    var frame = JPEGFrameHeader(process: 0, precision: 0, width: 0, height: 0, components: 0)
    var components: [Component] = []
    var quantTables = [[Int32]](repeating: [Int32](repeating: 1, count: 64), count: 4)
    var dcTables = [HuffmanTable](repeating: HuffmanTable(), count: 4)
    var acTables = [HuffmanTable](repeating: HuffmanTable(), count: 4)
    var restartInterval = 0
    var maxH = 1
    var maxV = 1

    static func error(_ message: String) -> DICOMError {
        DICOMError(.malformed, "JPEG: \(message)", tag: .pixelData)
    }

    /// Decodes the stream; returns each component's plane (width × height
    /// samples of the frame size when every component has the same sampling).
    static func decode(_ data: Data) throws(DICOMError) -> (header: JPEGFrameHeader, planes: [[Int32]]) {
        var decoder = JPEGDecoder()
        let bytes = [UInt8](data)
        try bytes.withUnsafeBufferPointer { (buffer) throws(DICOMError) in try decoder.run(buffer) }
        let planes = decoder.components.map { component -> [Int32] in
            if component.width == decoder.frame.width && component.blocksPerLine * 8 == component.width && component.height == component.plane.count / component.width {
                return component.plane
            }
            // Crop the block-padded plane to the image size.
            let stride = decoder.frame.process == 0xC3 ? component.width : component.blocksPerLine * 8
            var out = [Int32](repeating: 0, count: decoder.frame.width * decoder.frame.height)
            for y in 0..<decoder.frame.height {
                for x in 0..<decoder.frame.width { out[y * decoder.frame.width + x] = component.plane[y * stride + x] }
            }
            return out
        }
        return (decoder.frame, planes)
    }

    mutating func run(_ b: UnsafeBufferPointer<UInt8>) throws(DICOMError) {
        guard b.count >= 4, b[0] == 0xFF, b[1] == 0xD8 else { throw Self.error("no SOI marker") }
        var i = 2
        var sawFrame = false
        var sawScan = false
        while i + 1 < b.count {
            guard b[i] == 0xFF else { i += 1; continue }   // tolerate padding
            let marker = b[i + 1]
            i += 2
            if marker == 0xFF || marker == 0x00 || (0xD0...0xD7).contains(marker) || marker == 0x01 { if marker == 0xFF { i -= 1 }; continue }
            if marker == 0xD9 { break }
            guard i + 2 <= b.count else { throw Self.error("truncated marker segment") }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            guard length >= 2, i + length <= b.count else { throw Self.error("marker segment 0x\(String(marker, radix: 16)) runs past the end") }
            let segment = UnsafeBufferPointer(rebasing: b[(i + 2)..<(i + length)])
            switch marker {
            case 0xC0, 0xC1, 0xC3:
                try readFrame(segment, process: marker)
                sawFrame = true
            case 0xC2, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                throw DICOMError(.unsupportedTransferSyntax, "JPEG process SOF\(marker - 0xC0) (progressive, hierarchical or arithmetic coding) is not supported for this precision")
            case 0xC4: try readHuffman(segment)
            case 0xDB: try readQuantization(segment)
            case 0xDD:
                guard segment.count >= 2 else { throw Self.error("bad DRI") }
                restartInterval = Int(segment[0]) << 8 | Int(segment[1])
            case 0xDA:
                guard sawFrame else { throw Self.error("scan before frame header") }
                i += length
                i = try readScan(segment, data: b, from: i)
                sawScan = true
                continue
            default: break   // APPn, COM, DNL, …
            }
            i += length
        }
        guard sawScan else { throw Self.error("no scan") }
    }

    mutating func readFrame(_ s: UnsafeBufferPointer<UInt8>, process: UInt8) throws(DICOMError) {
        guard s.count >= 6 else { throw Self.error("short SOF") }
        frame = JPEGFrameHeader(process: process, precision: Int(s[0]), width: Int(s[3]) << 8 | Int(s[4]),
                                height: Int(s[1]) << 8 | Int(s[2]), components: Int(s[5]))
        guard frame.width > 0, frame.height > 0, frame.components > 0, s.count >= 6 + 3 * frame.components else {
            throw Self.error("bad frame header (\(frame.width)×\(frame.height), \(frame.components) components; DNL is not supported)")
        }
        if process == 0xC3 {
            guard (2...16).contains(frame.precision) else { throw Self.error("lossless precision \(frame.precision)") }
        } else {
            guard frame.precision == 8 || frame.precision == 12 else { throw Self.error("DCT precision \(frame.precision)") }
        }
        components = (0..<frame.components).map { c in
            Component(id: s[6 + 3 * c], h: max(1, Int(s[7 + 3 * c] >> 4)), v: max(1, Int(s[7 + 3 * c] & 15)), quantTable: Int(s[8 + 3 * c] & 3))
        }
        maxH = components.map(\.h).max()!
        maxV = components.map(\.v).max()!
        if process == 0xC3 {
            guard maxH == 1 && maxV == 1 else { throw DICOMError(.unsupportedTransferSyntax, "lossless JPEG with subsampled components is not supported") }
        }
        for c in components.indices {
            let width = (frame.width * components[c].h + maxH - 1) / maxH
            let height = (frame.height * components[c].v + maxV - 1) / maxV
            components[c].width = width
            components[c].height = height
            if process == 0xC3 {
                components[c].plane = [Int32](repeating: 0, count: width * height)
            } else {
                let mcusX = (frame.width + 8 * maxH - 1) / (8 * maxH)
                let mcusY = (frame.height + 8 * maxV - 1) / (8 * maxV)
                components[c].blocksPerLine = mcusX * components[c].h
                components[c].blocksPerColumn = mcusY * components[c].v
                components[c].plane = [Int32](repeating: 0, count: components[c].blocksPerLine * 8 * components[c].blocksPerColumn * 8)
            }
        }
    }

    mutating func readHuffman(_ s: UnsafeBufferPointer<UInt8>) throws(DICOMError) {
        var i = 0
        while i + 17 <= s.count {
            let tableClass = s[i] >> 4, id = Int(s[i] & 3)
            let counts = Array(s[(i + 1)..<(i + 17)])
            let total = counts.reduce(0) { $0 + Int($1) }
            guard i + 17 + total <= s.count, total <= 256 else { throw Self.error("bad DHT") }
            let table = try HuffmanTable(counts: counts, values: Array(s[(i + 17)..<(i + 17 + total)]))
            if tableClass == 0 { dcTables[id] = table } else { acTables[id] = table }
            i += 17 + total
        }
    }

    mutating func readQuantization(_ s: UnsafeBufferPointer<UInt8>) throws(DICOMError) {
        var i = 0
        while i < s.count {
            let wide = s[i] >> 4 != 0, id = Int(s[i] & 3)
            let size = wide ? 128 : 64
            guard i + 1 + size <= s.count else { throw Self.error("bad DQT") }
            var table = [Int32](repeating: 0, count: 64)
            for k in 0..<64 {
                let value = wide ? Int32(s[i + 1 + 2 * k]) << 8 | Int32(s[i + 2 + 2 * k]) : Int32(s[i + 1 + k])
                table[Self.zigzag[k]] = value
            }
            quantTables[id] = table
            i += 1 + size
        }
    }

    /// Reads the SOS header and the entropy-coded data after it; returns
    /// the index just past the data.
    mutating func readScan(_ s: UnsafeBufferPointer<UInt8>, data b: UnsafeBufferPointer<UInt8>, from start: Int) throws(DICOMError) -> Int {
        guard s.count >= 1 else { throw Self.error("bad SOS") }
        let n = Int(s[0])
        guard n >= 1, s.count >= 1 + 2 * n + 3 else { throw Self.error("bad SOS") }
        var scanComponents: [Int] = []
        for k in 0..<n {
            let id = s[1 + 2 * k]
            guard let c = components.firstIndex(where: { $0.id == id }) else { throw Self.error("scan names unknown component \(id)") }
            components[c].dcTable = Int(s[2 + 2 * k] >> 4 & 3)
            components[c].acTable = Int(s[2 + 2 * k] & 3)
            components[c].dcPrediction = 0
            scanComponents.append(c)
        }
        let ss = Int(s[1 + 2 * n]), al = Int(s[3 + 2 * n] & 15)
        var reader = BitReader(data: b, position: start)
        if frame.process == 0xC3 {
            guard (1...7).contains(ss) else { throw Self.error("lossless predictor \(ss) (must be 1–7)") }
            try decodeLossless(&reader, scanComponents, predictor: ss, pointTransform: al)
        } else {
            try decodeSequential(&reader, scanComponents)
        }
        return reader.endOfScan()
    }

    // MARK: lossless (T.81 Annex H)

    mutating func decodeLossless(_ r: inout BitReader, _ scan: [Int], predictor: Int, pointTransform pt: Int) throws(DICOMError) {
        let width = frame.width, height = frame.height
        let mask: Int32 = 0xFFFF
        let initial = Int32(1) << Int32(frame.precision - pt - 1)
        let count = scan.count
        var planes = scan.map { components[$0].plane }
        let tables = scan.map { dcTables[components[$0].dcTable] }
        let mcusPerRow = count == 1 ? components[scan[0]].width : width
        let rows = count == 1 ? components[scan[0]].height : height
        var untilRestart = restartInterval
        // The row where the current restart interval began, and the first
        // sample index of the interval: they reset the predictors (H.1.2.1).
        var intervalRow = 0
        var intervalStart = 0
        for y in 0..<rows {
            for x in 0..<mcusPerRow {
                if restartInterval > 0 {
                    if untilRestart == 0 {
                        try r.restart()
                        untilRestart = restartInterval
                        intervalRow = y
                        intervalStart = y * mcusPerRow + x
                    }
                    untilRestart -= 1
                }
                let index = y * mcusPerRow + x
                for k in 0..<count {
                    let diff = try r.decodeDifference(tables[k])
                    var prediction: Int32
                    if index == intervalStart {
                        prediction = initial
                    } else if y == intervalRow {
                        prediction = planes[k][index - 1]
                    } else if x == 0 {
                        prediction = planes[k][index - mcusPerRow]
                    } else {
                        let ra = planes[k][index - 1], rb = planes[k][index - mcusPerRow], rc = planes[k][index - mcusPerRow - 1]
                        switch predictor {
                        case 1: prediction = ra
                        case 2: prediction = rb
                        case 3: prediction = rc
                        case 4: prediction = ra + rb - rc
                        case 5: prediction = ra + ((rb - rc) >> 1)
                        case 6: prediction = rb + ((ra - rc) >> 1)
                        default: prediction = (ra + rb) >> 1
                        }
                    }
                    planes[k][index] = (prediction + diff) & mask
                }
            }
        }
        for (k, c) in scan.enumerated() {
            if pt > 0 { components[c].plane = planes[k].map { $0 << Int32(pt) } } else { components[c].plane = planes[k] }
        }
    }

    // MARK: sequential DCT (Huffman)

    mutating func decodeSequential(_ r: inout BitReader, _ scan: [Int]) throws(DICOMError) {
        var block = [Int32](repeating: 0, count: 64)
        var untilRestart = restartInterval
        func decodeBlock(_ c: Int, bx: Int, by: Int, r: inout BitReader, decoder: inout JPEGDecoder) throws(DICOMError) {
            let comp = decoder.components[c]
            let quant = decoder.quantTables[comp.quantTable]
            for k in 0..<64 { block[k] = 0 }
            let t = try r.decodeSymbol(decoder.dcTables[comp.dcTable])
            let diff = t == 0 ? 0 : try r.receiveExtend(Int(t))
            decoder.components[c].dcPrediction &+= diff
            block[0] = decoder.components[c].dcPrediction &* quant[0]
            var k = 1
            let ac = decoder.acTables[comp.acTable]
            while k < 64 {
                let rs = Int(try r.decodeSymbol(ac))
                let run = rs >> 4, size = rs & 15
                if size == 0 {
                    if run == 15 { k += 16; continue }
                    break
                }
                k += run
                guard k < 64 else { throw Self.error("AC coefficient index past 63") }
                let z = Self.zigzag[k]
                block[z] = try r.receiveExtend(size) &* quant[z]
                k += 1
            }
            Self.inverseDCT(block, into: &decoder.components[c].plane, offset: by * 8 * comp.blocksPerLine * 8 + bx * 8,
                            stride: comp.blocksPerLine * 8, precision: decoder.frame.precision)
        }
        func restartIfDue(_ r: inout BitReader, _ decoder: inout JPEGDecoder) throws(DICOMError) {
            guard decoder.restartInterval > 0 else { return }
            if untilRestart == 0 {
                try r.restart()
                untilRestart = decoder.restartInterval
                for c in scan { decoder.components[c].dcPrediction = 0 }
            }
            untilRestart -= 1
        }
        if scan.count == 1 {
            let c = scan[0]
            let blocksX = (components[c].width + 7) / 8, blocksY = (components[c].height + 7) / 8
            for by in 0..<blocksY {
                for bx in 0..<blocksX {
                    try restartIfDue(&r, &self)
                    try decodeBlock(c, bx: bx, by: by, r: &r, decoder: &self)
                }
            }
        } else {
            let mcusX = (frame.width + 8 * maxH - 1) / (8 * maxH)
            let mcusY = (frame.height + 8 * maxV - 1) / (8 * maxV)
            for my in 0..<mcusY {
                for mx in 0..<mcusX {
                    try restartIfDue(&r, &self)
                    for c in scan {
                        for v in 0..<components[c].v {
                            for h in 0..<components[c].h {
                                try decodeBlock(c, bx: mx * components[c].h + h, by: my * components[c].v + v, r: &r, decoder: &self)
                            }
                        }
                    }
                }
            }
        }
    }

    static let zigzag: [Int] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
        28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
        54, 47, 55, 62, 63,
    ]

    /// The IJG "islow" integer inverse DCT (jidctint.c), as DCMTK's and
    /// libjpeg's 12-bit builds use it: same rounding, same results.
    static func inverseDCT(_ input: [Int32], into plane: inout [Int32], offset: Int, stride: Int, precision: Int) {
        let constBits: Int64 = 13
        let pass1: Int64 = precision == 12 ? 1 : 2
        let center = Int64(1) << Int64(precision - 1)
        let maximum = (Int64(1) << Int64(precision)) - 1
        @inline(__always) func descale(_ x: Int64, _ n: Int64) -> Int64 { (x + (1 << (n - 1))) >> n }
        var ws = [Int64](repeating: 0, count: 64)
        for col in 0..<8 {
            let i = { (row: Int) -> Int64 in Int64(input[row * 8 + col]) }
            if i(1) == 0 && i(2) == 0 && i(3) == 0 && i(4) == 0 && i(5) == 0 && i(6) == 0 && i(7) == 0 {
                let dc = i(0) << pass1
                for row in 0..<8 { ws[row * 8 + col] = dc }
                continue
            }
            var z2 = i(2), z3 = i(6)
            var z1 = (z2 + z3) * 4433
            var tmp2 = z1 + z3 * -15137
            var tmp3 = z1 + z2 * 6270
            z2 = i(0); z3 = i(4)
            var tmp0 = (z2 + z3) << constBits
            var tmp1 = (z2 - z3) << constBits
            let tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2
            tmp0 = i(7); tmp1 = i(5); tmp2 = i(3); tmp3 = i(1)
            z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2
            var z4 = tmp1 + tmp3
            let z5 = (z3 + z4) * 9633
            tmp0 *= 2446; tmp1 *= 16819; tmp2 *= 25172; tmp3 *= 12299
            z1 *= -7373; z2 *= -20995; z3 *= -16069; z4 *= -3196
            z3 += z5; z4 += z5
            tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4
            let n = constBits - pass1
            ws[0 * 8 + col] = descale(tmp10 + tmp3, n); ws[7 * 8 + col] = descale(tmp10 - tmp3, n)
            ws[1 * 8 + col] = descale(tmp11 + tmp2, n); ws[6 * 8 + col] = descale(tmp11 - tmp2, n)
            ws[2 * 8 + col] = descale(tmp12 + tmp1, n); ws[5 * 8 + col] = descale(tmp12 - tmp1, n)
            ws[3 * 8 + col] = descale(tmp13 + tmp0, n); ws[4 * 8 + col] = descale(tmp13 - tmp0, n)
        }
        @inline(__always) func clamp(_ x: Int64) -> Int32 { Int32(min(max(x + center, 0), maximum)) }
        for row in 0..<8 {
            let w = { (k: Int) -> Int64 in ws[row * 8 + k] }
            let out = offset + row * stride
            if w(1) == 0 && w(2) == 0 && w(3) == 0 && w(4) == 0 && w(5) == 0 && w(6) == 0 && w(7) == 0 {
                let value = clamp(descale(w(0), pass1 + 3))
                for k in 0..<8 { plane[out + k] = value }
                continue
            }
            var z2 = w(2), z3 = w(6)
            var z1 = (z2 + z3) * 4433
            var tmp2 = z1 + z3 * -15137
            var tmp3 = z1 + z2 * 6270
            var tmp0 = (w(0) + w(4)) << constBits
            var tmp1 = (w(0) - w(4)) << constBits
            let tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2
            tmp0 = w(7); tmp1 = w(5); tmp2 = w(3); tmp3 = w(1)
            z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2
            var z4 = tmp1 + tmp3
            let z5 = (z3 + z4) * 9633
            tmp0 *= 2446; tmp1 *= 16819; tmp2 *= 25172; tmp3 *= 12299
            z1 *= -7373; z2 *= -20995; z3 *= -16069; z4 *= -3196
            z3 += z5; z4 += z5
            tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4
            let n = constBits + pass1 + 3
            plane[out + 0] = clamp(descale(tmp10 + tmp3, n)); plane[out + 7] = clamp(descale(tmp10 - tmp3, n))
            plane[out + 1] = clamp(descale(tmp11 + tmp2, n)); plane[out + 6] = clamp(descale(tmp11 - tmp2, n))
            plane[out + 2] = clamp(descale(tmp12 + tmp1, n)); plane[out + 5] = clamp(descale(tmp12 - tmp1, n))
            plane[out + 3] = clamp(descale(tmp13 + tmp0, n)); plane[out + 4] = clamp(descale(tmp13 - tmp0, n))
        }
    }
}

/// Entropy-coded data: bytes with FF00 stuffing, stopped by markers.
struct BitReader {
    let data: UnsafeBufferPointer<UInt8>
    var position: Int
    var accumulator: UInt64 = 0
    var bitCount = 0
    var atMarker = false

    init(data: UnsafeBufferPointer<UInt8>, position: Int) {
        self.data = data
        self.position = position
    }

    @inline(__always)
    mutating func fill() {
        while bitCount <= 56 {
            var byte: UInt64 = 0
            if !atMarker && position < data.count {
                let b = data[position]
                if b == 0xFF {
                    let next = position + 1 < data.count ? data[position + 1] : 0xD9
                    if next == 0x00 {
                        byte = 0xFF
                        position += 2
                    } else {
                        atMarker = true
                    }
                } else {
                    byte = UInt64(b)
                    position += 1
                }
            }
            accumulator |= byte << UInt64(56 - bitCount)
            bitCount += 8
        }
    }

    @inline(__always)
    mutating func bits(_ n: Int) -> Int32 {
        if bitCount < n { fill() }
        let value = Int32(truncatingIfNeeded: accumulator >> UInt64(64 - n))
        accumulator <<= UInt64(n)
        bitCount -= n
        return value
    }

    @inline(__always)
    mutating func decodeSymbol(_ table: JPEGDecoder.HuffmanTable) throws(DICOMError) -> UInt8 {
        if bitCount < 16 { fill() }
        let entry = table.lookup[Int(accumulator >> 55)]
        if entry != 0 {
            let length = Int(entry >> 8)
            accumulator <<= UInt64(length)
            bitCount -= length
            return UInt8(truncatingIfNeeded: entry)
        }
        for length in 10...16 {
            let code = Int32(truncatingIfNeeded: accumulator >> UInt64(64 - length))
            if code <= table.maxCode[length] {
                accumulator <<= UInt64(length)
                bitCount -= length
                let index = Int(code + table.valueOffset[length])
                guard index >= 0 && index < table.values.count else { break }
                return table.values[index]
            }
        }
        throw JPEGDecoder.error("bad Huffman code")
    }

    @inline(__always)
    mutating func receiveExtend(_ size: Int) throws(DICOMError) -> Int32 {
        guard size <= 16 else { throw JPEGDecoder.error("coefficient size \(size)") }
        let value = bits(size)
        return value < (1 << Int32(size - 1)) ? value - (1 << Int32(size)) + 1 : value
    }

    /// A lossless difference (H.1.2.2): category 16 means 32768, no bits follow.
    @inline(__always)
    mutating func decodeDifference(_ table: JPEGDecoder.HuffmanTable) throws(DICOMError) -> Int32 {
        let size = Int(try decodeSymbol(table))
        if size == 0 { return 0 }
        if size == 16 { return 32768 }
        return try receiveExtend(size)
    }

    /// Discards buffered bits and skips the RSTn marker.
    mutating func restart() throws(DICOMError) {
        accumulator = 0
        bitCount = 0
        atMarker = false
        while position + 1 < data.count && !(data[position] == 0xFF && (0xD0...0xD7).contains(data[position + 1])) {
            position += 1
        }
        guard position + 1 < data.count else { throw JPEGDecoder.error("restart marker missing") }
        position += 2
    }

    /// Where the next marker starts.
    func endOfScan() -> Int {
        var i = position
        while i + 1 < data.count && !(data[i] == 0xFF && data[i + 1] != 0x00 && !(0xD0...0xD7).contains(data[i + 1])) { i += 1 }
        return i
    }
}

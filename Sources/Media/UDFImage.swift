#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A UDF file system (ECMA-167 3rd edition, OSTA UDF 1.02–2.60) read from
/// an image file or a drive, for the discs libarchive cannot read: UDF
/// without an ISO 9660 bridge (BD media, some DVDs).
///
/// Read-only and in place: the Anchor Volume Descriptor Pointer (sector
/// 256, else 256 before the end, else the last sector), the Partition and
/// Logical Volume Descriptors, the File Set Descriptor, then File Entries
/// and Extended File Entries with short, long or embedded allocation
/// (continued in Allocation Extent Descriptors) and the File Identifier
/// Descriptors of every folder. Partitions: physical, sparable (read as
/// physical: a finished disc needs no sparing) and the UDF 2.50 metadata
/// partition (its blocks mapped through the metadata file, or its mirror).
/// A virtual partition (VAT: an incrementally written CD-R or DVD-R) is
/// refused with the way out: mount the disc.
///
/// Hostile or broken structures give a ``MediaError``, never a crash:
/// descriptor tags are checked (identifier and checksum), every offset is
/// bounded by the image, folders are visited once (a folder reached twice
/// is a loop), and the ``MediumLimits`` bound entries, depth and the bytes
/// files claim.
final class UDFImage: @unchecked Sendable {   // immutable after init; pread is thread-safe
    let path: String
    private let fd: Int32
    private let imageSize: Int64
    private let blockSize: Int64
    private let maps: [PartitionMap]
    private let rootICB: Address
    /// The Logical Volume Identifier.
    let volumeLabel: String?

    /// A block of a partition, as a `lb_addr` names it.
    struct Address: Hashable {
        var block: UInt32
        var partition: UInt16
    }

    /// Bytes of a file or folder: read from the image, or zeros (an extent
    /// allocated but not recorded, or not allocated).
    struct Extent {
        var offset: Int64
        var length: Int64
        var recorded: Bool
    }

    private enum PartitionMap {
        /// First block of the partition in the image.
        case physical(start: Int64)
        /// Block n of the partition is block `table[n]` of the physical
        /// partition starting at `start` (the Virtual Allocation Table).
        case virtual(start: Int64, table: [UInt32])
        /// The metadata file's extents (UDF 2.50): block n of the partition
        /// is byte n × block size of that file.
        case metadata([Extent])
    }

    /// A file or folder's entry: what it is and where its bytes are.
    struct Entry {
        var isDirectory: Bool
        var isFile: Bool
        var size: Int64
        var extents: [Extent]
        /// The data itself, when it is kept inside the entry.
        var embedded: Data?
    }

    init(path: String) throws(MediaError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MediaError(.unreadable, "cannot open: \(systemMessage(errno))", path: path) }
        self.fd = fd
        var size = Int64(lseek(fd, 0, SEEK_END))
        if size <= 0 {
            var info = stat()
            size = fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
        }
        imageSize = size
        do {
            // The volume structure is addressed in sectors: 2048 bytes on
            // optical media, 512 (or 4096) on a disk formatted UDF.
            var anchor: Data?
            var sector: Int64 = 2048
            search: for sectorSize in [2048, 512, 4096, 1024] as [Int64] {
                let last = imageSize / sectorSize - 1
                for candidate in [256, last - 256, last] where candidate >= 256 && (candidate + 1) * sectorSize <= imageSize {
                    let data = try Self.read(fd, path: path, size: imageSize, offset: candidate * sectorSize, count: 512)
                    if Self.tag(data) == 2, Int64(data.u32(12)) == candidate { anchor = data; sector = sectorSize; break search }
                }
            }
            guard let anchor else { throw Self.unsupported(path, "no UDF anchor (sector 256, or near the end)") }
            let main = (length: Int64(anchor.u32(16)), location: Int64(anchor.u32(20)))
            let reserve = (length: Int64(anchor.u32(24)), location: Int64(anchor.u32(28)))

            var partitions: [UInt16: Int64] = [:]
            var logical: Data?
            for sequence in [main, reserve] where logical == nil || partitions.isEmpty {
                let length = min(sequence.length, 256 * sector)
                guard length >= sector else { continue }
                let data = try Self.read(fd, path: path, size: imageSize, offset: sequence.location * sector, count: Int(length))
                var offset = 0
                while offset + Int(sector) <= data.count {
                    let descriptor = data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + Int(sector)))
                    switch Self.tag(descriptor) {
                    case 5: partitions[descriptor.u16(22)] = Int64(descriptor.u32(188))
                    case 6 where logical == nil:
                        // Its partition maps may run into the next sector (512-byte sectors).
                        let end = min(data.count, offset + max(Int(sector), 440 + Int(min(descriptor.u32(264), 64 * 64))))
                        logical = data.subdata(in: (data.startIndex + offset)..<(data.startIndex + end))
                    case 8: offset = data.count
                    default: break
                    }
                    offset += Int(sector)
                }
            }
            guard let logical, !partitions.isEmpty else {
                throw Self.unsupported(path, "no UDF Logical Volume or Partition Descriptor")
            }
            let block = Int64(logical.u32(212))
            guard [512, 1024, 2048, 4096].contains(block) else {
                throw Self.unsupported(path, "UDF logical block size \(block)")
            }
            blockSize = block
            volumeLabel = Self.dstring(logical.subdata(in: (logical.startIndex + 84)..<(logical.startIndex + 212)))

            // Partition maps: type 1 (physical) and type 2 (metadata, sparable, virtual).
            let mapCount = Int(logical.u32(268))
            var physical: [PartitionMap?] = []
            var metadataFiles: [(index: Int, partition: UInt16, main: UInt32, mirror: UInt32)] = []
            var virtualMaps: [(index: Int, partition: UInt16)] = []
            var offset = 440
            for index in 0..<min(mapCount, 64) {
                guard offset + 2 <= logical.count else { throw Self.unsupported(path, "UDF partition maps run past their descriptor") }
                let type = logical.u8(offset), length = Int(logical.u8(offset + 1))
                guard length >= 6, offset + length <= logical.count else { throw Self.unsupported(path, "a damaged UDF partition map") }
                if type == 1 {
                    guard let start = partitions[logical.u16(offset + 4)] else { throw Self.unsupported(path, "a UDF partition map names no partition") }
                    physical.append(.physical(start: start))
                } else if type == 2, length >= 64 {
                    let identifier = String(decoding: logical.subdata(in: (logical.startIndex + offset + 5)..<(logical.startIndex + offset + 28)),
                                            as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\0 "))
                    let number = logical.u16(offset + 38)
                    switch identifier {
                    case "*UDF Metadata Partition":
                        metadataFiles.append((index, number, logical.u32(offset + 40), logical.u32(offset + 44)))
                        physical.append(nil)
                    case "*UDF Sparable Partition":
                        guard let start = partitions[number] else { throw Self.unsupported(path, "a UDF partition map names no partition") }
                        physical.append(.physical(start: start))
                    case "*UDF Virtual Partition":
                        virtualMaps.append((index, number))
                        physical.append(nil)
                    default:
                        throw Self.unsupported(path, "UDF partition map \"\(identifier)\"")
                    }
                } else {
                    throw Self.unsupported(path, "UDF partition map type \(type)")
                }
                offset += length
            }
            var maps = physical.map { $0 ?? .metadata([]) }
            /// The map of the physical partition numbered `number`.
            func physicalIndex(_ number: UInt16) throws(MediaError) -> Int {
                guard let start = partitions[number], let index = maps.indices.first(where: { index in
                    if case .physical(let at) = maps[index] { return at == start } else { return false }
                }) else { throw Self.unsupported(path, "a UDF partition map names no physical partition") }
                return index
            }
            // A virtual partition (VAT: written incrementally, as Windows
            // burns "like a USB flash drive") maps its blocks through the
            // table recorded last on the disc.
            for map in virtualMaps {
                let base = try physicalIndex(map.partition)
                guard case .physical(let start) = maps[base] else { continue }
                maps[map.index] = .virtual(start: start, table: try Self.virtualAllocationTable(
                    fd: fd, path: path, size: imageSize, blockSize: block, maps: maps, physical: UInt16(base), start: start))
            }
            // The metadata file is addressed in its partition (through the
            // VAT when there is one); its mirror is read when the file
            // itself is damaged.
            for file in metadataFiles {
                let base = try physicalIndex(file.partition)
                var candidates = virtualMaps.map { UInt16($0.index) }
                candidates.append(UInt16(base))
                var extents: [Extent]?
                for partition in candidates {
                    for location in [file.main, file.mirror] where extents == nil {
                        let entry = try? Self.entry(at: Address(block: location, partition: partition), fd: fd, path: path,
                                                    size: imageSize, blockSize: block, maps: maps)
                        extents = entry?.extents
                    }
                }
                guard let extents else { throw Self.unsupported(path, "the UDF metadata file (and its mirror) cannot be read") }
                maps[file.index] = .metadata(extents)
            }
            self.maps = maps

            // The File Set Descriptor names the root folder.
            let fileSet = Self.longAddress(logical, at: 248)
            let fsd = try Self.read(fd, path: path, size: size,
                                    offset: Self.offset(of: fileSet, blockSize: block, maps: maps, path: path), count: Int(block))
            guard Self.tag(fsd) == 256 else { throw Self.unsupported(path, "no UDF File Set Descriptor") }
            rootICB = Self.longAddress(fsd, at: 400)
        } catch let error as MediaError {
            close(fd)
            throw error
        } catch {
            close(fd)
            throw MediaError(.unreadable, "\(error)", path: path)
        }
    }

    deinit { close(fd) }

    // MARK: Visiting

    /// Every regular file, depth first, visited in the order of its data on
    /// the disc (a drive reads forward).
    func visitFiles(limits: MediumLimits, _ visitor: (MediumFile) throws -> Void,
                    skipped: (MediaError) -> Void) throws {
        try visit(try files(limits: limits, skipped: skipped), visitor)
    }

    /// Every regular file's path and entry, in the order of the folders
    /// (entries are read, file data is not).
    func files(limits: MediumLimits, skipped: (MediaError) -> Void) throws(MediaError) -> [(path: String, entry: Entry)] {
        var files: [(path: String, entry: Entry)] = []
        var visited: Set<Address> = [rootICB]
        var entries = 0
        var claimed: Int64 = 0
        var pending: [(address: Address, path: String, depth: Int)] = [(rootICB, "", 0)]
        while let folder = pending.popLast() {
            let entry = try entry(at: folder.address)
            guard entry.isDirectory else {
                throw Self.unsupported(path, folder.path.isEmpty ? "the UDF root is not a folder" : "\(folder.path) is marked a folder but is none")
            }
            let data = try contents(of: entry, limit: 64 << 20)
            for child in try Self.identifiers(data, path: path, folder: folder.path) {
                entries += 1
                if entries > limits.maximumEntries {
                    throw MediaError(.entryLimit, "more than \(limits.maximumEntries) entries (files, folders): refused as hostile", path: path)
                }
                let childPath = folder.path.isEmpty ? child.name : folder.path + "/" + child.name
                if child.isDirectory {
                    guard visited.insert(child.address).inserted else {
                        skipped(MediaError(.symlinkLoop, "a UDF folder reached twice (a loop): not followed", path: childPath))
                        continue
                    }
                    if folder.depth + 1 > limits.maximumDepth {
                        skipped(MediaError(.entryLimit, "nested deeper than \(limits.maximumDepth) folders: not read", path: childPath))
                        continue
                    }
                    pending.append((child.address, childPath, folder.depth + 1))
                } else {
                    let file = try self.entry(at: child.address)
                    guard file.isFile else { continue }   // links, devices, streams
                    claimed += file.size
                    if claimed > limits.maximumTotalBytes {
                        throw MediaError(.expansionLimit, "the files claim more than \(limits.maximumTotalBytes) bytes: refused as hostile", path: path)
                    }
                    files.append((childPath, file))
                }
            }
        }
        return files
    }

    /// Visits what ``files(limits:skipped:)`` found, in on-disc order.
    func visit(_ files: [(path: String, entry: Entry)], _ visitor: (MediumFile) throws -> Void) throws {
        let ordered = files.enumerated().sorted { a, b in
            let x = a.element.entry.extents.first { $0.recorded }?.offset ?? Int64.max
            let y = b.element.entry.extents.first { $0.recorded }?.offset ?? Int64.max
            return (x, a.offset) < (y, b.offset)
        }
        for (_, file) in ordered {
            let entry = file.entry
            let read: (Int, Int) throws(MediaError) -> Data = { offset, count in
                try self.read(entry, from: Int64(offset), count: count, name: file.path)
            }
            try visitor(MediumFile(
                path: file.path, size: Int(entry.size),
                readPrefix: { (count: Int) throws(MediaError) -> Data in try read(0, count) },
                readRange: read,
                copyContents: { sink in
                    var position = 0
                    while position < Int(entry.size) {
                        let chunk = try read(position, min(1 << 20, Int(entry.size) - position))
                        if chunk.isEmpty { break }
                        try chunk.withUnsafeBytes { try sink($0) }
                        position += chunk.count
                    }
                }))
        }
    }

    // MARK: Entries and folders

    func entry(at address: Address) throws(MediaError) -> Entry {
        try Self.entry(at: address, fd: fd, path: path, size: imageSize, blockSize: blockSize, maps: maps)
    }

    private static func entry(at address: Address, fd: Int32, path: String, size: Int64, blockSize: Int64,
                              maps: [PartitionMap]) throws(MediaError) -> Entry {
        let data = try read(fd, path: path, size: size, offset: offset(of: address, blockSize: blockSize, maps: maps, path: path),
                            count: Int(blockSize))
        let tag = tag(data)
        guard tag == 261 || tag == 266 else { throw unsupported(path, "no UDF File Entry at block \(address.block) of partition \(address.partition)") }
        let extended = tag == 266
        let fileType = data.u8(27)
        let flags = data.u16(34)
        let attributes = Int(data.u32(extended ? 208 : 168))
        let descriptorsLength = Int(data.u32(extended ? 212 : 172))
        let start = (extended ? 216 : 176) + attributes
        guard attributes >= 0, descriptorsLength >= 0, start + descriptorsLength <= data.count else {
            throw unsupported(path, "a damaged UDF File Entry at block \(address.block)")
        }
        let informationLength = Int64(bitPattern: data.u64(56))
        guard informationLength >= 0 else { throw unsupported(path, "a damaged UDF File Entry at block \(address.block)") }
        var entry = Entry(isDirectory: fileType == 4, isFile: fileType == 5, size: informationLength, extents: [], embedded: nil)
        let descriptors = data.subdata(in: (data.startIndex + start)..<(data.startIndex + start + descriptorsLength))
        switch flags & 7 {
        case 3:
            entry.embedded = descriptors.prefix(Int(min(informationLength, Int64(descriptors.count))))
        case 0, 1:
            entry.extents = try allocation(descriptors, long: flags & 7 == 1, partition: address.partition,
                                           fd: fd, path: path, size: size, blockSize: blockSize, maps: maps)
        default:
            throw unsupported(path, "UDF extended allocation descriptors")
        }
        return entry
    }

    /// The extents of short or long allocation descriptors, following
    /// Allocation Extent Descriptors (type 3) a bounded number of times.
    private static func allocation(_ first: Data, long: Bool, partition: UInt16, fd: Int32, path: String, size: Int64,
                                   blockSize: Int64, maps: [PartitionMap]) throws(MediaError) -> [Extent] {
        var extents: [Extent] = []
        var data = first
        var continuations = 0
        let step = long ? 16 : 8
        var offset = 0
        while offset + step <= data.count {
            let word = data.u32(offset)
            let type = word >> 30, length = Int64(word & 0x3FFF_FFFF)
            if length == 0 { break }
            let address = long ? longAddress(data, at: offset) : Address(block: data.u32(offset + 4), partition: partition)
            offset += step
            switch type {
            case 0:
                extents += try physicalExtents(address, length: length, blockSize: blockSize, maps: maps, path: path)
            case 3:
                continuations += 1
                guard continuations <= 1024 else { throw unsupported(path, "a UDF allocation chain that does not end") }
                let next = try read(fd, path: path, size: size, offset: Self.offset(of: address, blockSize: blockSize, maps: maps, path: path),
                                    count: Int(min(length, blockSize)))
                guard next.count >= 24, tag(next) == 258 else { throw unsupported(path, "a broken UDF allocation chain") }
                let count = min(Int(next.u32(20)), next.count - 24)
                data = next.subdata(in: (next.startIndex + 24)..<(next.startIndex + 24 + max(0, count)))
                offset = 0
            default:
                extents.append(Extent(offset: 0, length: length, recorded: false))
            }
        }
        return extents
    }

    /// The bytes of `length` from `address` as extents of the image (split
    /// where the metadata file's extents split).
    private static func physicalExtents(_ address: Address, length: Int64, blockSize: Int64, maps: [PartitionMap],
                                        path: String) throws(MediaError) -> [Extent] {
        guard Int(address.partition) < maps.count else { throw unsupported(path, "UDF partition \(address.partition) does not exist") }
        switch maps[Int(address.partition)] {
        case .physical(let start):
            return [Extent(offset: (start + Int64(address.block)) * blockSize, length: length, recorded: true)]
        case .virtual(let start, let table):
            // Virtual blocks map one by one.
            var result: [Extent] = []
            var block = Int(address.block)
            var remaining = length
            while remaining > 0 {
                guard block < table.count, table[block] != 0xFFFF_FFFF else {
                    throw unsupported(path, "UDF virtual block \(block) is not in the allocation table")
                }
                let take = min(blockSize, remaining)
                let offset = (start + Int64(table[block])) * blockSize
                if let last = result.last, last.offset + last.length == offset {
                    result[result.count - 1].length += take
                } else {
                    result.append(Extent(offset: offset, length: take, recorded: true))
                }
                remaining -= take
                block += 1
            }
            return result
        case .metadata(let file):
            var skip = Int64(address.block) * blockSize
            var remaining = length
            var result: [Extent] = []
            for extent in file where remaining > 0 {
                if skip >= extent.length { skip -= extent.length; continue }
                let take = min(extent.length - skip, remaining)
                result.append(Extent(offset: extent.offset + skip, length: take, recorded: extent.recorded))
                remaining -= take
                skip = 0
            }
            guard remaining == 0 else { throw unsupported(path, "a UDF extent past the end of the metadata partition") }
            return result
        }
    }

    private static func offset(of address: Address, blockSize: Int64, maps: [PartitionMap], path: String) throws(MediaError) -> Int64 {
        guard let first = try physicalExtents(address, length: blockSize, blockSize: blockSize, maps: maps, path: path).first else {
            throw unsupported(path, "UDF block \(address.block) of partition \(address.partition) is nowhere")
        }
        return first.offset
    }

    /// The Virtual Allocation Table: a file whose entry is the last block
    /// recorded (found searching back from the end of the image). UDF 2.00+
    /// marks it with file type 248 and a header; UDF 1.50 with file type 0
    /// and the identifier `*UDF Virtual Alloc Tbl` after the entries.
    private static func virtualAllocationTable(fd: Int32, path: String, size: Int64, blockSize: Int64, maps: [PartitionMap],
                                               physical: UInt16, start: Int64) throws(MediaError) -> [UInt32] {
        // An image may end in blocks never written (zeros): the last
        // recorded one is the last that is not (searched back 1 GiB at most).
        var last = size / blockSize - 1
        let chunk = Int64(1 << 20) / blockSize
        search: while last > start, (size / blockSize - 1) - last < (1 << 30) / blockSize {
            let from = max(start, last - chunk + 1)
            let data = try read(fd, path: path, size: size, offset: from * blockSize, count: Int((last - from + 1) * blockSize))
            let nonZero = data.withUnsafeBytes { raw -> Int? in   // word by word: a blank tail can be large
                var index = raw.count / 8 - 1
                while index >= 0 {
                    if raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) != 0 { return index * 8 }
                    index -= 1
                }
                return nil
            }
            if let nonZero {
                last = from + Int64(nonZero) / blockSize
                break search
            }
            last = from - 1
        }
        for block in stride(from: last, through: max(start, last - 512), by: -1) {
            guard let head = try? read(fd, path: path, size: size, offset: block * blockSize, count: Int(blockSize)),
                  let tag = tag(head), tag == 261 || tag == 266 else { continue }
            let fileType = head.u8(27)
            guard fileType == 248 || fileType == 0,
                  let entry = try? Self.entry(at: Address(block: UInt32(block - start), partition: physical), fd: fd, path: path,
                                              size: size, blockSize: blockSize, maps: maps),
                  entry.size >= 4, entry.size <= 64 << 20 else { continue }
            var data = Data()
            if let embedded = entry.embedded {
                data = embedded
            } else {
                for extent in entry.extents where extent.recorded {
                    data.append(try read(fd, path: path, size: size, offset: extent.offset, count: Int(extent.length)))
                }
                data = data.prefix(Int(entry.size))
            }
            var entries: Data
            if fileType == 248 {
                let header = Int(data.u16(0))
                guard header >= 152, header <= data.count else { continue }
                entries = data.subdata(in: (data.startIndex + header)..<data.endIndex)
            } else {
                guard data.count >= 36,
                      String(decoding: data.suffix(36).dropFirst().prefix(23), as: UTF8.self)
                          .trimmingCharacters(in: CharacterSet(charactersIn: "\0")) == "*UDF Virtual Alloc Tbl" else { continue }
                entries = data.prefix(data.count - 36)
            }
            return stride(from: 0, to: entries.count - 3, by: 4).map { entries.u32($0) }
        }
        throw unsupported(path, "a UDF virtual partition without its allocation table (an unfinished disc?)")
    }

    /// A folder's bytes (at most `limit`).
    private func contents(of entry: Entry, limit: Int64) throws(MediaError) -> Data {
        guard entry.size <= limit else { throw Self.unsupported(path, "a UDF folder of \(entry.size) bytes") }
        return try read(entry, from: 0, count: Int(entry.size), name: "a folder")
    }

    /// The children a folder's File Identifier Descriptors name (not its
    /// parent, not deleted ones).
    static func identifiers(_ data: Data, path: String, folder: String) throws(MediaError) -> [(name: String, isDirectory: Bool, address: Address)] {
        var children: [(name: String, isDirectory: Bool, address: Address)] = []
        var offset = 0
        while offset + 38 <= data.count {
            let record = data[(data.startIndex + offset)...]   // a slice: no copy
            guard tag(record) == 257 else {
                throw unsupported(path, "a damaged UDF folder\(folder.isEmpty ? "" : " (\(folder))") at byte \(offset) of its entries")
            }
            let characteristics = record.u8(18)
            let nameLength = Int(record.u8(19))
            let implementationLength = Int(record.u16(36))
            let total = (38 + implementationLength + nameLength + 3) & ~3
            guard 38 + implementationLength + nameLength <= record.count else {
                throw unsupported(path, "a damaged UDF folder\(folder.isEmpty ? "" : " (\(folder))")")
            }
            offset += total
            if characteristics & 0x0C != 0 || nameLength == 0 { continue }   // parent or deleted
            let raw = record.subdata(in: (record.startIndex + 38 + implementationLength)..<(record.startIndex + 38 + implementationLength + nameLength))
            guard let name = osta(raw), !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
                continue
            }
            children.append((name, characteristics & 0x02 != 0, longAddress(record, at: 20)))
        }
        return children
    }

    // MARK: Reading

    /// `count` bytes of a file or folder from `offset` (fewer at its end).
    func read(_ entry: Entry, from offset: Int64, count: Int, name: String) throws(MediaError) -> Data {
        let end = min(entry.size, offset + Int64(count))
        guard offset < end else { return Data() }
        if let embedded = entry.embedded {
            let from = min(Int(offset), embedded.count), to = min(Int(end), embedded.count)
            return embedded.subdata(in: (embedded.startIndex + from)..<(embedded.startIndex + to))
        }
        var result = Data()
        result.reserveCapacity(Int(end - offset))
        var position: Int64 = 0
        for extent in entry.extents where position < end {
            defer { position += extent.length }
            let from = max(offset, position), to = min(end, position + extent.length)
            guard from < to else { continue }
            if extent.recorded {
                let bytes = try Self.read(fd, path: path, size: imageSize, offset: extent.offset + (from - position), count: Int(to - from))
                guard bytes.count == Int(to - from) else {
                    throw MediaError(.unreadable, "\(name): the image ends before its data (a truncated image?)", path: path)
                }
                result.append(bytes)
            } else {
                result.append(Data(count: Int(to - from)))
            }
        }
        // Extents shorter than the size: the rest reads as zeros.
        if Int64(result.count) < end - offset { result.append(Data(count: Int(end - offset) - result.count)) }
        return result
    }

    private static func read(_ fd: Int32, path: String, size: Int64, offset: Int64, count: Int) throws(MediaError) -> Data {
        guard offset >= 0, offset < size else {
            throw MediaError(.unreadable, "UDF structure at byte \(offset) is past the end of the image (\(size) bytes)", path: path)
        }
        return try preadData(fd, offset: Int(offset), count: min(count, Int(size - offset)), path: path)
    }

    // MARK: Descriptors

    /// The tag identifier of a descriptor whose tag checksum holds; nil otherwise.
    static func tag(_ data: Data) -> UInt16? {
        guard data.count >= 16 else { return nil }
        var sum: UInt8 = 0
        for index in 0..<16 where index != 4 { sum &+= data.u8(index) }
        return sum == data.u8(4) ? data.u16(0) : nil
    }

    static func longAddress(_ data: Data, at offset: Int) -> Address {
        Address(block: data.u32(offset + 4), partition: data.u16(offset + 8))
    }

    /// An OSTA CS0 compressed Unicode string: 8-bit (ID 8, 254) or UTF-16BE (16, 255).
    static func osta(_ raw: Data) -> String? {
        guard let id = raw.first else { return nil }
        let body = raw.dropFirst()
        switch id {
        case 8, 254:
            return String(String.UnicodeScalarView(body.map { Unicode.Scalar($0) }))
        case 16, 255:
            var units: [UInt16] = []
            var index = body.startIndex
            while index + 1 < body.endIndex {
                units.append(UInt16(body[index]) << 8 | UInt16(body[index + 1]))
                index += 2
            }
            return String(decoding: units, as: UTF16.self)
        default:
            return nil
        }
    }

    /// A dstring: CS0 bytes, the last byte their length.
    static func dstring(_ raw: Data) -> String? {
        guard let length = raw.last, length > 0, Int(length) < raw.count else { return nil }
        return osta(raw.prefix(Int(length)))?.trimmingCharacters(in: .whitespaces)
    }

    private static func unsupported(_ path: String, _ what: String) -> MediaError {
        MediaError(.unsupportedFormat, "cannot read this UDF image: \(what)", path: path)
    }
}

private extension Data {
    func u8(_ offset: Int) -> UInt8 { offset < count ? self[startIndex + offset] : 0 }
    func u16(_ offset: Int) -> UInt16 { UInt16(u8(offset)) | UInt16(u8(offset + 1)) << 8 }
    func u32(_ offset: Int) -> UInt32 { UInt32(u16(offset)) | UInt32(u16(offset + 2)) << 16 }
    func u64(_ offset: Int) -> UInt64 { UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32 }
}

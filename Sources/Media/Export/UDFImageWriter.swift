#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes a folder (a written file-set with its PDI content) as a UDF
/// image, the file system PS3.12 Annex X asks of BD media: UDF 2.60, the
/// revision for BD-R (a BD-RE takes 2.50; the structures written here are
/// the same), with no ISO 9660 side.
///
/// The volume, in 2048-byte sectors: the volume recognition sequence
/// (BEA01, NSR03, TEA01) at 16; the main Volume Descriptor Sequence at 32
/// and its reserve copy at 64 (another 64 KiB ECC block of the BD):
/// Primary, Implementation Use ("*UDF LV Info"), Partition (read-only
/// access), Logical Volume (a physical partition map and a metadata
/// partition map), Unallocated Space and Terminating Descriptors; the
/// Logical Volume Integrity Descriptor (closed) at 96; Anchor Volume
/// Descriptor Pointers at 256 and in the last sector. One partition from
/// sector 288 holds the metadata file and its mirror (UDF 2.50 2.2.13: each
/// a File Entry of type 250/251 over its own copy of the metadata, the
/// Duplicate Metadata Flag set, no bitmap on read-only media), then every
/// file's data, contiguous, in folder order. The metadata partition holds
/// the File Set Descriptor, an Extended File Entry per folder and file,
/// and each folder's File Identifier Descriptors. Names are OSTA CS0
/// (8-bit when every character fits, else 16-bit). Every descriptor carries
/// its location, checksum and CRC (ECMA-167 3/7.2).
///
/// Files are streamed (1 MiB at a time) and the metadata written a block
/// at a time: memory does not grow with the size of the volume.
public enum UDFImageWriter {
    static let sectorSize = 2048
    /// The revision written: 2.60 (BD-R).
    public static let revision: UInt16 = 0x0260
    /// The oldest revision that can read the volume (UDF 2.60: 2.50).
    static let minimumReadRevision: UInt16 = 0x0250
    static let partitionStart = 288
    /// Metadata extents are allocated (and aligned) 32 blocks at a time:
    /// one BD ECC block.
    static let allocationUnit = 32
    /// The longest extent an allocation descriptor can name (2^30 bytes,
    /// less a block so that it ends on a block boundary).
    static let maximumExtent = (1 << 30) - sectorSize

    /// Writes `folder`'s content to `path` (replaced if it exists) as a
    /// UDF volume named `volumeID` (Logical Volume, Volume and File Set
    /// Identifier). Symbolic links and special files stay off the volume.
    public static func write(folder: String, to path: String, volumeID: String, date: Date = Date()) throws(MediaError) {
        let root = try Node.tree(folder)
        let layout = try Layout(root: root, path: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MediaError(.unreadable, "cannot create the UDF image: \(systemMessage(errno))", path: path) }
        var closed = false
        defer { if !closed { close(fd) } }
        let image = ImageFile(fd: fd, path: path)
        let context = Context(volumeID: volumeID, time: timestamp(date), layout: layout, date: date)
        try context.writeVolumeStructure(to: image)
        try context.writeMetadata(root, to: image)
        try context.writeFiles(to: image)
        guard ftruncate(fd, off_t(layout.sectors * sectorSize)) == 0 else {
            throw MediaError(.unreadable, "cannot size the UDF image: \(systemMessage(errno))", path: path)
        }
        closed = true
        guard close(fd) == 0 else { throw MediaError(.unreadable, "cannot write the UDF image: \(systemMessage(errno))", path: path) }
    }

    // MARK: The tree

    /// A file or folder of the volume, with where its entry and data go.
    final class Node {
        let name: String
        let source: String
        let isDirectory: Bool
        let size: Int64
        var children: [Node] = []
        var uniqueID: UInt64 = 0
        /// Metadata partition block of its Extended File Entry.
        var entryBlock = 0
        /// A folder: metadata partition block of its identifiers; a file:
        /// physical partition block of its data.
        var dataBlock = 0
        /// A folder: bytes of its File Identifier Descriptors.
        var identifiersLength = 0

        init(name: String, source: String, isDirectory: Bool, size: Int64) {
            self.name = name; self.source = source; self.isDirectory = isDirectory; self.size = size
        }

        var subfolders: Int { children.reduce(0) { $0 + ($1.isDirectory ? 1 : 0) } }

        static func tree(_ folder: String) throws(MediaError) -> Node {
            let root = Node(name: "", source: folder, isDirectory: true, size: 0)
            var pending = [root]
            while let node = pending.popLast() {
                let names: [String]
                do {
                    names = try FileManager.default.contentsOfDirectory(atPath: node.source).sorted()
                } catch {
                    throw MediaError(.unreadable, "cannot list \(node.source): \(error.localizedDescription)", path: folder)
                }
                for name in names {
                    let full = node.source + "/" + name
                    var info = stat()
                    guard lstat(full, &info) == 0 else { throw MediaError(.unreadable, "cannot stat \(full)", path: folder) }
                    let type = info.st_mode & S_IFMT
                    guard type == S_IFDIR || type == S_IFREG else { continue }   // links and the like stay off the medium
                    guard identifier(name).count <= 255 else {
                        throw MediaError(.unsupportedFormat, "a name longer than UDF allows (255 bytes): \(name)", path: full)
                    }
                    let child = Node(name: name, source: full, isDirectory: type == S_IFDIR, size: Int64(info.st_size))
                    node.children.append(child)
                    if child.isDirectory { pending.append(child) }
                }
            }
            return root
        }
    }

    /// Where everything goes. Metadata partition: File Set Descriptor (0),
    /// Terminating Descriptor (1), then per folder its entry, its
    /// identifiers and its files' entries, depth first. Physical partition:
    /// the metadata file's entry (0) and its mirror's (1), the metadata
    /// (from block 32) and its mirror copy, then the files' data.
    struct Layout {
        /// Blocks of the metadata partition (a multiple of the allocation unit).
        var metadataBlocks = 0
        var partitionBlocks = 0
        var sectors = 0
        /// Every file, in the order of its data on the volume.
        var files: [Node] = []
        var folders = 0
        var nextUniqueID: UInt64 = 16

        init(root: Node, path: String) throws(MediaError) {
            var next = 2
            var order = [root]
            // Unique IDs: the root 0, everything else from 16 (UDF 3.2.1.1).
            while let folder = order.popLast() {
                folders += 1
                folder.entryBlock = next
                folder.identifiersLength = identifierLength(nameBytes: 0)
                    + folder.children.reduce(0) { $0 + identifierLength(nameBytes: identifier($1.name).count) }
                folder.dataBlock = next + 1
                next += 1 + blocks(Int64(folder.identifiersLength))
                for child in folder.children {
                    child.uniqueID = nextUniqueID
                    nextUniqueID += 1
                    if child.isDirectory { continue }
                    child.entryBlock = next
                    next += 1
                    files.append(child)
                }
                order.append(contentsOf: folder.children.filter(\.isDirectory).reversed())
            }
            metadataBlocks = (next + allocationUnit - 1) / allocationUnit * allocationUnit
            var data = allocationUnit + 2 * metadataBlocks
            for file in files {
                file.dataBlock = data
                data += blocks(file.size)
                guard file.size <= Int64(maximumExtent) * Int64((sectorSize - 216) / 16) else {
                    throw MediaError(.unsupportedFormat, "\(file.name) is larger than one UDF entry can describe", path: file.source)
                }
            }
            partitionBlocks = data
            sectors = partitionStart + partitionBlocks + 1
            guard sectors <= Int(UInt32.max) else {
                throw MediaError(.unsupportedFormat, "more than a UDF volume of 2048-byte blocks holds (8 TiB)", path: path)
            }
        }

        /// Physical partition block of metadata partition block `block`,
        /// in the metadata file (or its mirror).
        func physical(metadata block: Int, mirror: Bool) -> Int {
            allocationUnit + (mirror ? metadataBlocks : 0) + block
        }
    }

    static func blocks(_ bytes: Int64) -> Int { Int((bytes + Int64(sectorSize) - 1) / Int64(sectorSize)) }

    /// A File Identifier Descriptor's length, padded to 4 bytes (ECMA-167 4/14.4).
    static func identifierLength(nameBytes: Int) -> Int { (38 + nameBytes + 3) & ~3 }

    // MARK: Writing

    struct ImageFile {
        let fd: Int32
        let path: String

        func write(_ bytes: [UInt8], sector: Int) throws(MediaError) {
            try bytes.withUnsafeBytes { raw in
                Result { () throws(MediaError) in try write(raw, at: sector * sectorSize) }
            }.get()
        }

        func write(_ raw: UnsafeRawBufferPointer, at offset: Int) throws(MediaError) {
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MediaError(.unreadable, "cannot write the UDF image: \(systemMessage(errno))", path: path)
                }
                done += n
            }
        }
    }

    struct Context {
        let volumeID: String
        let time: [UInt8]
        let layout: Layout
        let date: Date

        func writeVolumeStructure(to image: ImageFile) throws(MediaError) {
            for (index, name) in ["BEA01", "NSR03", "TEA01"].enumerated() {
                var sector = Block(count: sectorSize)
                sector.put(1, Array(name.utf8))
                sector.u8(6, 1)
                try image.write(sector.bytes, sector: 16 + index)
            }
            for start in [32, 64] {
                try image.write(primaryVolumeDescriptor(at: start), sector: start)
                try image.write(implementationUseDescriptor(at: start + 1), sector: start + 1)
                try image.write(partitionDescriptor(at: start + 2), sector: start + 2)
                try image.write(logicalVolumeDescriptor(at: start + 3), sector: start + 3)
                try image.write(unallocatedSpaceDescriptor(at: start + 4), sector: start + 4)
                try image.write(terminatingDescriptor(at: start + 5), sector: start + 5)
            }
            try image.write(integrityDescriptor(at: 96), sector: 96)
            try image.write(terminatingDescriptor(at: 97), sector: 97)
            for sector in [256, layout.sectors - 1] {
                var anchor = Block(count: 512)
                anchor.u32(16, UInt32(16 * sectorSize)); anchor.u32(20, 32)
                anchor.u32(24, UInt32(16 * sectorSize)); anchor.u32(28, 64)
                anchor.seal(tag: 2, location: sector)
                try image.write(anchor.bytes, sector: sector)
            }
            // The metadata file and its mirror, in the physical partition.
            for (block, type) in [(0, UInt8(250)), (1, 251)] {
                let descriptors = shortAllocations(length: Int64(layout.metadataBlocks * sectorSize),
                                                   block: layout.physical(metadata: 0, mirror: type == 251))
                let entry = fileEntry(location: block, type: type, allocation: 0, permissions: 0, links: 1,
                                      size: Int64(layout.metadataBlocks * sectorSize), uniqueID: 0, descriptors: descriptors)
                try image.write(entry, sector: partitionStart + block)
            }
        }

        /// Writes a block of the metadata partition in both copies.
        func writeMetadata(_ bytes: [UInt8], block: Int, to image: ImageFile) throws(MediaError) {
            for mirror in [false, true] {
                try image.write(bytes, sector: partitionStart + layout.physical(metadata: block, mirror: mirror))
            }
        }

        func writeMetadata(_ root: Node, to image: ImageFile) throws(MediaError) {
            try writeMetadata(fileSetDescriptor(root: root), block: 0, to: image)
            try writeMetadata(terminatingDescriptor(at: 1), block: 1, to: image)
            var pending: [(folder: Node, parent: Node)] = [(root, root)]
            while let (folder, parent) = pending.popLast() {
                let folderData = longAllocations(length: Int64(folder.identifiersLength), block: folder.dataBlock, partition: 1)
                try writeMetadata(fileEntry(location: folder.entryBlock, type: 4, allocation: 1, permissions: folderPermissions,
                                            links: UInt16(clamping: 1 + folder.subfolders), size: Int64(folder.identifiersLength),
                                            uniqueID: folder.uniqueID, descriptors: folderData),
                                  block: folder.entryBlock, to: image)
                // The identifiers: the parent first, then every child.
                var identifiers = Block(count: blocks(Int64(folder.identifiersLength)) * sectorSize)
                var offset = 0
                func add(_ node: Node, characteristics: UInt8, name: [UInt8]) {
                    let length = identifierLength(nameBytes: name.count)
                    var fid = Block(count: length)
                    fid.u16(16, 1)
                    fid.u8(18, characteristics)
                    fid.u8(19, UInt8(name.count))
                    fid.put(20, longAllocation(length: UInt32(sectorSize), block: node.entryBlock, partition: 1, uniqueID: node.uniqueID))
                    fid.put(38, name)
                    fid.seal(tag: 257, location: folder.dataBlock + offset / sectorSize)
                    identifiers.put(offset, fid.bytes)
                    offset += length
                }
                add(parent, characteristics: 0x0A, name: [])
                for child in folder.children {
                    add(child, characteristics: child.isDirectory ? 0x02 : 0, name: identifier(child.name))
                }
                for index in 0..<blocks(Int64(folder.identifiersLength)) {
                    let from = index * sectorSize
                    try writeMetadata(Array(identifiers.bytes[from..<(from + sectorSize)]), block: folder.dataBlock + index, to: image)
                }
                for child in folder.children where !child.isDirectory {
                    let data = longAllocations(length: child.size, block: child.dataBlock, partition: 0)
                    try writeMetadata(fileEntry(location: child.entryBlock, type: 5, allocation: 1, permissions: filePermissions,
                                                links: 1, size: child.size, uniqueID: child.uniqueID, descriptors: data),
                                      block: child.entryBlock, to: image)
                }
                pending.append(contentsOf: folder.children.filter(\.isDirectory).reversed().map { ($0, folder) })
            }
        }

        /// Copies every file's bytes into its extent, in the order of the extents.
        func writeFiles(to image: ImageFile) throws(MediaError) {
            let chunk = 1 << 20
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            for file in layout.files {
                let fd = open(file.source, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw MediaError(.unreadable, "cannot open \(file.source): \(systemMessage(errno))", path: file.source) }
                defer { close(fd) }
                var copied: Int64 = 0
                while true {
                    let n = read(fd, buffer, chunk)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw MediaError(.unreadable, "cannot read \(file.source): \(systemMessage(errno))", path: file.source)
                    }
                    if n == 0 { break }
                    guard copied + Int64(n) <= file.size else {
                        throw MediaError(.unreadable, "\(file.source) grew while the UDF image was written", path: file.source)
                    }
                    try image.write(UnsafeRawBufferPointer(start: buffer, count: n),
                                    at: (partitionStart + file.dataBlock) * sectorSize + Int(copied))
                    copied += Int64(n)
                }
                guard copied == file.size else {
                    throw MediaError(.unreadable, "\(file.source) changed size while the UDF image was written", path: file.source)
                }
            }
        }

        // MARK: Descriptors

        func primaryVolumeDescriptor(at sector: Int) -> [UInt8] {
            var d = Block(count: 512)
            d.u32(16, 1)                                   // Volume Descriptor Sequence Number
            d.put(24, dstring(volumeID, length: 32))
            d.u16(56, 1); d.u16(58, 1)                     // volume 1 of 1
            d.u16(60, 2); d.u16(62, 2)                     // Interchange Level 2 (PS3.12 X.2.1.1)
            d.u32(64, 1); d.u32(68, 1)                     // character set lists: CS0
            // UDF 2.2.2.5: the first 16 characters unique (the time, in hex).
            let unique = String(UInt64(date.timeIntervalSince1970 * 1_000_000), radix: 16, uppercase: true)
            d.put(72, dstring(String(repeating: "0", count: max(0, 16 - unique.count)) + unique + volumeID, length: 128))
            d.put(200, cs0CharacterSet); d.put(264, cs0CharacterSet)
            d.put(376, time)
            d.put(388, implementationIdentifier)
            d.seal(tag: 1, location: sector)
            return d.bytes
        }

        func implementationUseDescriptor(at sector: Int) -> [UInt8] {
            var d = Block(count: 512)
            d.u32(16, 2)
            d.put(20, entityIdentifier("*UDF LV Info", suffix: udfSuffix))
            d.put(52, cs0CharacterSet)
            d.put(116, dstring(volumeID, length: 128))
            d.put(352, implementationIdentifier)
            d.seal(tag: 4, location: sector)
            return d.bytes
        }

        func partitionDescriptor(at sector: Int) -> [UInt8] {
            var d = Block(count: 512)
            d.u32(16, 3)
            d.u16(20, 1)                                   // allocated
            d.u16(22, 0)                                   // partition number
            d.put(24, entityIdentifier("+NSR03", suffix: []))
            d.u32(184, 1)                                  // read-only: no space tables
            d.u32(188, UInt32(partitionStart))
            d.u32(192, UInt32(layout.partitionBlocks))
            d.put(196, implementationIdentifier)
            d.seal(tag: 5, location: sector)
            return d.bytes
        }

        func logicalVolumeDescriptor(at sector: Int) -> [UInt8] {
            var d = Block(count: 440 + 6 + 64)
            d.u32(16, 4)
            d.put(20, cs0CharacterSet)
            d.put(84, dstring(volumeID, length: 128))
            d.u32(212, UInt32(sectorSize))
            d.put(216, domainIdentifier)
            d.put(248, longAllocation(length: UInt32(2 * sectorSize), block: 0, partition: 1))   // the File Set Descriptor
            d.u32(264, 6 + 64); d.u32(268, 2)
            d.put(272, implementationIdentifier)
            d.u32(432, UInt32(2 * sectorSize)); d.u32(436, 96)                                  // integrity sequence
            // Map 0: the physical partition; map 1: its metadata partition.
            d.u8(440, 1); d.u8(441, 6); d.u16(442, 1); d.u16(444, 0)
            let map = 446
            d.u8(map, 2); d.u8(map + 1, 64)
            d.put(map + 4, entityIdentifier("*UDF Metadata Partition", suffix: udfSuffix))
            d.u16(map + 36, 1); d.u16(map + 38, 0)
            d.u32(map + 40, 0); d.u32(map + 44, 1); d.u32(map + 48, 0xFFFF_FFFF)             // file, mirror, no bitmap
            d.u32(map + 52, UInt32(allocationUnit)); d.u16(map + 56, UInt16(allocationUnit))
            d.u8(map + 58, 1)                                                                  // Duplicate Metadata Flag
            d.seal(tag: 6, location: sector)
            return d.bytes
        }

        func unallocatedSpaceDescriptor(at sector: Int) -> [UInt8] {
            var d = Block(count: 24)
            d.u32(16, 5)
            d.seal(tag: 7, location: sector)
            return d.bytes
        }

        func terminatingDescriptor(at location: Int) -> [UInt8] {
            var d = Block(count: 512)
            d.seal(tag: 8, location: location)
            return d.bytes
        }

        func integrityDescriptor(at sector: Int) -> [UInt8] {
            var d = Block(count: 80 + 16 + 46)
            d.put(16, time)
            d.u32(28, 1)                                   // closed
            d.u64(40, layout.nextUniqueID)
            d.u32(72, 2); d.u32(76, 46)
            d.u32(80, 0); d.u32(84, 0)                     // free space: none
            d.u32(88, UInt32(layout.partitionBlocks)); d.u32(92, UInt32(layout.metadataBlocks))
            d.put(96, implementationIdentifier)
            d.u32(128, UInt32(layout.files.count)); d.u32(132, UInt32(layout.folders))
            d.u16(136, minimumReadRevision); d.u16(138, revision); d.u16(140, revision)
            d.seal(tag: 9, location: sector)
            return d.bytes
        }

        func fileSetDescriptor(root: Node) -> [UInt8] {
            var d = Block(count: 512)
            d.put(16, time)
            d.u16(28, 3); d.u16(30, 3)                     // Interchange Level 3 (UDF 2.3.2)
            d.u32(32, 1); d.u32(36, 1)
            d.put(48, cs0CharacterSet)
            d.put(112, dstring(volumeID, length: 128))
            d.put(240, cs0CharacterSet)
            d.put(304, dstring(volumeID, length: 32))
            d.put(400, longAllocation(length: UInt32(sectorSize), block: root.entryBlock, partition: 1))
            d.put(416, domainIdentifier)
            d.seal(tag: 256, location: 0)
            return d.bytes
        }

        /// An Extended File Entry (ECMA-167 4/14.17) in one block.
        func fileEntry(location: Int, type: UInt8, allocation: UInt16, permissions: UInt32, links: UInt16,
                       size: Int64, uniqueID: UInt64, descriptors: [UInt8]) -> [UInt8] {
            var d = Block(count: 216 + descriptors.count)
            d.u16(20, 4); d.u16(24, 1); d.u8(27, type)     // ICB tag: strategy 4, one entry
            d.u16(34, allocation)
            d.u32(36, 0xFFFF_FFFF); d.u32(40, 0xFFFF_FFFF) // no owner, no group
            d.u32(44, permissions)
            d.u16(48, links)
            d.u64(56, UInt64(size)); d.u64(64, UInt64(size))
            d.u64(72, UInt64(blocks(size)))
            for at in [80, 92, 104, 116] { d.put(at, time) }
            d.u32(128, 1)                                  // checkpoint
            d.put(168, implementationIdentifier)
            d.u64(200, uniqueID)
            d.u32(212, UInt32(descriptors.count))
            d.put(216, descriptors)
            d.seal(tag: 266, location: location)
            return d.bytes + [UInt8](repeating: 0, count: sectorSize - d.bytes.count)
        }

        // MARK: Fields

        var domainIdentifier: [UInt8] { entityIdentifier("*OSTA UDF Compliant", suffix: [UInt8(revision & 0xFF), UInt8(revision >> 8)]) }
        var udfSuffix: [UInt8] { [UInt8(revision & 0xFF), UInt8(revision >> 8), 4] }     // revision, OS class UNIX
        var implementationIdentifier: [UInt8] { entityIdentifier("*discport", suffix: [4]) }
    }

    /// Read for everyone (owner, group, other); folders also searchable.
    static let filePermissions: UInt32 = 0x1084
    static let folderPermissions: UInt32 = 0x14A5

    /// "OSTA Compressed Unicode" (ECMA-167 1/7.2.1, UDF 2.1.2).
    static let cs0CharacterSet: [UInt8] = {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.replaceSubrange(1..<24, with: Array("OSTA Compressed Unicode".utf8))
        return bytes
    }()

    /// An entity identifier (regid, ECMA-167 1/7.4): flags, 23 bytes of
    /// identifier, 8 of suffix.
    static func entityIdentifier(_ identifier: String, suffix: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        let name = Array(identifier.utf8.prefix(23))
        bytes.replaceSubrange(1..<(1 + name.count), with: name)
        bytes.replaceSubrange(24..<(24 + suffix.count), with: suffix)
        return bytes
    }

    /// A name in OSTA CS0: 8 bits a character when every one fits, else UTF-16BE.
    static func identifier(_ name: String) -> [UInt8] {
        let units = Array(name.utf16)
        if units.allSatisfy({ $0 < 0x100 }) { return [8] + units.map { UInt8($0) } }
        return [16] + units.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// A dstring field of `length` bytes: CS0, then its used length in the last byte.
    static func dstring(_ text: String, length: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        guard !text.isEmpty else { return bytes }
        var encoded = identifier(text)
        let room = length - 1
        if encoded.count > room { encoded = Array(encoded.prefix(encoded[0] == 8 ? room : 1 + (room - 1) / 2 * 2)) }
        bytes.replaceSubrange(0..<encoded.count, with: encoded)
        bytes[length - 1] = UInt8(encoded.count)
        return bytes
    }

    /// A timestamp (ECMA-167 1/7.3): local time type, UTC.
    static func timestamp(_ date: Date) -> [UInt8] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
        let micro = (c.nanosecond ?? 0) / 1000
        let year = UInt16(c.year ?? 1970)
        return [0x00, 0x10, UInt8(year & 0xFF), UInt8(year >> 8), UInt8(c.month ?? 1), UInt8(c.day ?? 1),
                UInt8(c.hour ?? 0), UInt8(c.minute ?? 0), UInt8(c.second ?? 0),
                UInt8(micro / 10_000), UInt8(micro / 100 % 100), UInt8(micro % 100)]
    }

    /// A long_ad: extent length, block, partition reference, and (in a
    /// File Identifier) the UDF unique ID of what it names (UDF 2.3.4.3).
    static func longAllocation(length: UInt32, block: Int, partition: UInt16, uniqueID: UInt64 = 0) -> [UInt8] {
        var d = Block(count: 16)
        d.u32(0, length); d.u32(4, UInt32(block)); d.u16(8, partition)
        d.u32(12, UInt32(truncatingIfNeeded: uniqueID))
        return d.bytes
    }

    /// Long allocation descriptors for `length` bytes from `block`, in
    /// extents of at most ``maximumExtent``.
    static func longAllocations(length: Int64, block: Int, partition: UInt16) -> [UInt8] {
        extents(length).flatMap { longAllocation(length: UInt32($0.length), block: block + $0.block, partition: partition) }
    }

    static func shortAllocations(length: Int64, block: Int) -> [UInt8] {
        extents(length).flatMap { extent in
            var d = Block(count: 8)
            d.u32(0, UInt32(extent.length)); d.u32(4, UInt32(block + extent.block))
            return d.bytes
        }
    }

    /// (offset in blocks, bytes) of each extent.
    static func extents(_ length: Int64) -> [(block: Int, length: Int)] {
        var result: [(block: Int, length: Int)] = []
        var done: Int64 = 0
        while done < length {
            let part = Int(min(Int64(maximumExtent), length - done))
            result.append((Int(done / Int64(sectorSize)), part))
            done += Int64(part)
        }
        return result
    }

    /// A descriptor's bytes, little endian, sealed with its tag.
    struct Block {
        var bytes: [UInt8]
        init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }
        mutating func u8(_ at: Int, _ value: UInt8) { bytes[at] = value }
        mutating func u16(_ at: Int, _ value: UInt16) { bytes[at] = UInt8(value & 0xFF); bytes[at + 1] = UInt8(value >> 8) }
        mutating func u32(_ at: Int, _ value: UInt32) { u16(at, UInt16(value & 0xFFFF)); u16(at + 2, UInt16(value >> 16)) }
        mutating func u64(_ at: Int, _ value: UInt64) { u32(at, UInt32(value & 0xFFFF_FFFF)); u32(at + 4, UInt32(value >> 32)) }
        mutating func put(_ at: Int, _ value: [UInt8]) { bytes.replaceSubrange(at..<(at + value.count), with: value) }

        /// The descriptor tag (ECMA-167 3/7.2): identifier, version 3,
        /// serial 1, the CRC of everything after the tag, the location,
        /// and the checksum of the tag.
        mutating func seal(tag: UInt16, location: Int) {
            u16(0, tag); u16(2, 3); u16(6, 1)
            u16(8, UDFImageWriter.crc(bytes[16...])); u16(10, UInt16(bytes.count - 16))
            u32(12, UInt32(location))
            var sum: UInt8 = 0
            for index in 0..<16 where index != 4 { sum &+= bytes[index] }
            bytes[4] = sum
        }
    }

    /// CRC-16/CCITT (x^16 + x^12 + x^5 + 1, initial 0), ECMA-167 1/7.2.6.
    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ crcTable[Int((crc >> 8) ^ UInt16(byte))] }
        return crc
    }

    static let crcTable: [UInt16] = (0..<256).map { index in
        var value = UInt16(index) << 8
        for _ in 0..<8 { value = value & 0x8000 != 0 ? (value << 1) ^ 0x1021 : value << 1 }
        return value
    }
}

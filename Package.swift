// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "discport",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "discport", targets: ["discport"]),
        .library(name: "DICOM", targets: ["DICOM"]),
        .library(name: "DICOMXML", targets: ["DICOMXML"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "Reconcile", targets: ["Reconcile"]),
        .library(name: "Jobs", targets: ["Jobs"]),
        .library(name: "Convert", targets: ["Convert"]),
        .library(name: "Codecs", targets: ["Codecs"]),
        .library(name: "Network", targets: ["Network"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries through module maps (Debian -dev packages; `make deps`).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CCharLS", pkgConfig: "charls", providers: [.apt(["libcharls-dev"])]),
        .systemLibrary(name: "COpenJPEG", pkgConfig: "libopenjp2", providers: [.apt(["libopenjp2-7-dev"])]),
        // statfs(2) from the C library (no package).
        .systemLibrary(name: "CFileSystem"),
        // HTTP through libcurl, opened with dlopen when DICOMweb first needs it
        // (linked, it and its ~30 libraries would slow every process's start).
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),

        // Tags, VRs, dictionary, transfer syntaxes, character sets, Part 10
        // read/write, UIDs. Foundation plus the system zlib (deflated syntax).
        .target(name: "DICOM", dependencies: ["CZlib"]),
        // PS3.19 Native DICOM Model XML, written with libxml2.
        .target(name: "DICOMXML", dependencies: ["DICOM", "CLibXML2"]),

        // Codecs: compressed pixel data to native pixels (RLE, JPEG lossless and
        // 12-bit in Swift; libjpeg-turbo's libjpeg API, CharLS, OpenJPEG through
        // module maps), RLE encoding, transcoding of a data set, thumbnails. The
        // one JPEG decoder: Convert decodes loose JPEGs through it too.
        .target(name: "Codecs", dependencies: ["DICOM", "CJPEG", "CCharLS", "COpenJPEG"]),

        // Media: sources (folder, ISO, zip/tar, device), DICOMDIR, scanning.
        // Writing: file-sets (DICOMDIR, File IDs, media profiles), ISO/zip images, verification.
        .target(name: "Media", dependencies: ["DICOM", "DICOMXML", "CArchive", "CLibXML2", "CFileSystem", .product(name: "Crypto", package: "swift-crypto")]),

        // Store: instance files under $DISCPORT_HOME and the SQLite catalog.
        .target(
            name: "Store",
            dependencies: ["DICOM", "Reconcile", "CSQLite3", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // Reconcile: local patient identity, attribute coercion with Original Attributes.
        .target(name: "Reconcile", dependencies: ["DICOM", .product(name: "Crypto", package: "swift-crypto")]),

        // Convert: JPEG/PNG/TIFF/BMP/PDF → Secondary Capture, VL Photographic,
        // Encapsulated PDF. JPEG pixels through Codecs; PNG and TIFF through the
        // system libpng and libtiff; BMP in Swift; PDF object streams inflated by DICOM.Inflate.
        .target(name: "Convert", dependencies: ["DICOM", "Reconcile", "Codecs", "CPNG", "CTIFF"]),

        // Network: the DICOM upper layer (PS3.8) and DIMSE (PS3.7) on SwiftNIO:
        // associations, C-ECHO, C-STORE (SCU and SCP), C-FIND; DICOMweb over CCurl.
        .target(
            name: "Network",
            dependencies: [
                "DICOM", "Reconcile", "CCurl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // Jobs: import / export / migrate / convert / transcode / send / listen
        // pipelines composing the stages.
        .target(name: "Jobs", dependencies: [
            "DICOM", "Media", "Reconcile", "Store", "Convert", "Codecs", "Network",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Mustache", package: "swift-mustache"),
        ]),

        // The command-line tool: arguments and output only.
        .executableTarget(
            name: "discport",
            dependencies: [
                "DICOM", "DICOMXML", "Media", "Store", "Reconcile", "Jobs", "Convert", "Codecs", "Network",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // `make bench` (Benchmarks/run.sh); not a product, never installed.
        .executableTarget(name: "discport-bench", dependencies: ["DICOM"], path: "Benchmarks/discport-bench"),

        .testTarget(name: "DICOMTests", dependencies: ["DICOM", "DICOMXML"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "DICOM", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Reconcile", "DICOM", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "ReconcileTests", dependencies: ["Reconcile", "DICOM"]),
        .testTarget(name: "CodecsTests", dependencies: ["Codecs", "DICOM"]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Store", "Reconcile", "Media", "DICOM", "Network", "Codecs"]),
        .testTarget(name: "ConvertTests", dependencies: ["Convert", "Codecs", "Jobs", "Store", "Reconcile", "DICOM", "CPNG", "CZlib"]),
        .testTarget(name: "NetworkTests", dependencies: [
            "Network", "DICOM",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)

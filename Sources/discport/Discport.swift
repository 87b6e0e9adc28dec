import ArgumentParser
import DICOM

@main
struct Discport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discport",
        abstract: "Move medical images in and out of the clinic on removable media.",
        subcommands: []
    )
}

import DICOMCore

/// The ladder (sequence) diagram of one association in SVG: the SCU and SCP lifelines, time
/// flowing down, one arrow per PDU of the association and per DIMSE message (a run of pending
/// responses, and a band of alike exchanges, as one shape that says how many it stands for:
/// `data-n`), each with its words (colour is never the only carrier), the latency from the
/// request beside the final response, findings and long pauses marked where they happened.
/// Rows are evenly spaced (in order, not to scale): the time is written on the left.
struct HTMLLadder {
    static let width = 660.0
    static let scu = 170.0
    static let scp = 500.0
    static let head = 56.0

    enum Item {
        case arrow(HTMLAssociationSummary.Arrow)
        case band(HTMLAssociationSummary.Band)
        case marker(HTMLAssociationSummary.Marker)

        var time: Timestamp {
            switch self {
            case .arrow(let a): return a.time
            case .band(let b): return b.start
            case .marker(let m): return m.time
            }
        }

        var height: Double {
            switch self {
            case .arrow(let a): return a.note == nil || a.isMessage ? 30 : 42
            case .band: return 62
            case .marker: return 22
            }
        }
    }

    let summary: HTMLAssociationSummary
    let origin: Timestamp
    let calling: String
    let called: String
    let client: String
    let server: String

    func items() -> [Item] {
        var items: [(Int, Item)] = []
        var n = 0
        func add(_ item: Item) { items.append((n, item)); n += 1 }
        for a in summary.pduArrows { add(.arrow(a)) }
        for row in summary.rows {
            switch row {
            case .exchange(let r): for a in r.arrows { add(.arrow(a)) }
            case .band(let b): add(.band(b))
            }
        }
        for a in summary.strayArrows { add(.arrow(a)) }
        for m in summary.markers { add(.marker(m)) }
        items.sort { $0.1.time == $1.1.time ? $0.0 < $1.0 : $0.1.time < $1.1.time }
        return items.map(\.1)
    }

    /// A pause this long between two rows is drawn as a break.
    static let pause = Duration.seconds(1)

    func write(into w: inout HTMLWriter) {
        let items = items()
        var height = Self.head + 16
        var previous: Timestamp?
        for item in items {
            if let p = previous, item.time - p >= Self.pause { height += 22 }
            height += item.height
            previous = item.time
        }
        w.open("svg", [.init("class", "ladder"), .init("xmlns", "http://www.w3.org/2000/svg"),
                       .init("width", Self.width), .init("height", height),
                       .init("viewBox", "0 0 \(Int(Self.width)) \(Int(height))"), .init("role", "img"),
                       .init("aria-label", "Ladder diagram: \(calling) (SCU) and \(called) (SCP)")])
        lifelineHead(x: Self.scu, role: "SCU (requestor)", ae: calling, address: client, into: &w)
        lifelineHead(x: Self.scp, role: "SCP (acceptor)", ae: called, address: server, into: &w)
        w.empty("line", [.init("class", "lifeline"), .init("x1", Self.scu), .init("y1", Self.head),
                         .init("x2", Self.scu), .init("y2", height)])
        w.empty("line", [.init("class", "lifeline"), .init("x1", Self.scp), .init("y1", Self.head),
                         .init("x2", Self.scp), .init("y2", height)])
        var y = Self.head + 8
        previous = nil
        for item in items {
            if let p = previous, item.time - p >= Self.pause {
                w.open("g", [.init("class", "pause")])
                w.empty("line", [.init("x1", 70), .init("y1", y + 11), .init("x2", Self.width - 10), .init("y2", y + 11)])
                w.element("text", [.init("x", (Self.scu + Self.scp) / 2), .init("y", y + 15), .init("text-anchor", "middle")],
                          "⋯ \(Self.seconds((item.time - p).milliseconds / 1000)) s later ⋯")
                w.close("g")
                y += 22
            }
            previous = item.time
            switch item {
            case .arrow(let a): arrow(a, y: y, into: &w)
            case .band(let b): band(b, y: y, into: &w)
            case .marker(let m): marker(m, y: y, into: &w)
            }
            y += item.height
        }
        w.close("svg")
    }

    func lifelineHead(x: Double, role: String, ae: String, address: String, into w: inout HTMLWriter) {
        w.empty("rect", [.init("class", "head"), .init("x", x - 110), .init("y", 2), .init("width", 220),
                         .init("height", Self.head - 8), .init("rx", 4)])
        w.element("text", [.init("class", "role"), .init("x", x), .init("y", 17), .init("text-anchor", "middle")], role)
        w.element("text", [.init("class", "ae"), .init("x", x), .init("y", 32), .init("text-anchor", "middle")], ae)
        w.element("text", [.init("class", "addr"), .init("x", x), .init("y", 44), .init("text-anchor", "middle")], address)
    }

    func timeLabel(_ t: Timestamp, y: Double, into w: inout HTMLWriter) {
        w.element("text", [.init("class", "t"), .init("x", 66), .init("y", y + 4), .init("text-anchor", "end")],
                  "+" + Self.seconds(t.seconds(since: origin)) + " s")
    }

    func arrow(_ a: HTMLAssociationSummary.Arrow, y: Double, into w: inout HTMLWriter) {
        let rowY = y + 18
        let (from, to) = a.sender == .requestor ? (Self.scu, Self.scp) : (Self.scp, Self.scu)
        let direction = to > from ? 1.0 : -1.0
        w.open("g", [.init("class", a.isMessage ? "msg dimse \(a.kind.rawValue)" : "msg pdu \(a.kind.rawValue)"),
                     .init("data-n", a.count)])
        w.element("title", [], a.label + (a.note.map { a.isMessage ? ": \($0) after the request" : ": " + $0 } ?? ""))
        timeLabel(a.time, y: rowY, into: &w)
        w.empty("line", [.init("x1", from), .init("y1", rowY), .init("x2", to - direction * 9), .init("y2", rowY)])
        w.empty("polygon", [.init("points", "\(to),\(rowY) \(to - direction * 10),\(rowY - 5) \(to - direction * 10),\(rowY + 5)")])
        w.element("text", [.init("class", "label"), .init("x", (Self.scu + Self.scp) / 2), .init("y", rowY - 5),
                           .init("text-anchor", "middle")], a.label)
        if let note = a.note {
            if a.isMessage {
                w.element("text", [.init("class", "note"), .init("x", Self.scp + 8), .init("y", rowY + 4)], note)
            } else {
                w.element("text", [.init("class", "note"), .init("x", (Self.scu + Self.scp) / 2), .init("y", rowY + 15),
                                   .init("text-anchor", "middle")], String(note.prefix(70)))
            }
        }
        w.close("g")
    }

    func band(_ b: HTMLAssociationSummary.Band, y: Double, into w: inout HTMLWriter) {
        let kind = b.isMixed ? "unknown" : HTMLAssociationSummary.ArrowKind(b.finalStatus?.category).rawValue
        w.open("g", [.init("class", "band \(kind)"), .init("data-n", b.messages)])
        timeLabel(b.start, y: y + 14, into: &w)
        w.empty("rect", [.init("x", Self.scu - 8), .init("y", y + 4), .init("width", Self.scp - Self.scu + 16),
                         .init("height", 52), .init("rx", 6)])
        let mid = (Self.scu + Self.scp) / 2
        w.element("text", [.init("class", "label"), .init("x", mid), .init("y", y + 20), .init("text-anchor", "middle")],
                  bandTitle(b))
        w.element("text", [.init("class", "sub"), .init("x", mid), .init("y", y + 35), .init("text-anchor", "middle")],
                  "\(b.messages) messages, \(b.sender == .requestor ? "SCU → SCP" : "SCP → SCU") requests, until +"
                      + Self.seconds(b.end.seconds(since: origin)) + " s")
        let l = b.latencies
        if l.count > 0 {
            w.element("text", [.init("class", "sub"), .init("x", mid), .init("y", y + 49), .init("text-anchor", "middle")],
                      "latency min \(formatMilliseconds(l.minimum)) · mean \(formatMilliseconds(l.mean)) · "
                          + "max \(formatMilliseconds(l.maximum)) ms")
            sparkline(l, x: Self.scp + 14, y: y + 8, width: Self.width - Self.scp - 20, height: 44, into: &w)
        }
        w.close("g")
    }

    func bandTitle(_ b: HTMLAssociationSummary.Band) -> String {
        if b.isMixed { return "\(b.count) further exchanges (collapsed to bound memory)" }
        let status = b.finalStatus.map { "\($0.category) \(statusText($0.code))" } ?? "no final response"
        return "\(b.count) × \(b.service) msg \(b.firstMessageID)–\(b.lastMessageID): \(status)"
    }

    func sparkline(_ l: LatencySamples, x: Double, y: Double, width: Double, height: Double, into w: inout HTMLWriter) {
        guard l.points.count > 1 else { return }
        let top = l.maximum > 0 ? l.maximum : 1
        var points = ""
        for (i, v) in l.points.enumerated() {
            let px = x + width * Double(i) / Double(l.points.count - 1)
            let py = y + height - height * v / top
            points += "\(Int(px.rounded())),\(Int(py.rounded())) "
        }
        w.open("g", [.init("class", "spark")])
        w.element("title", [], "latency of each exchange in order (ms), max \(formatMilliseconds(l.maximum))")
        w.empty("rect", [.init("x", x), .init("y", y), .init("width", width), .init("height", height)])
        w.empty("polyline", [.init("points", points)])
        w.close("g")
    }

    static func shortened(_ s: String, to n: Int) -> String { s.count > n ? s.prefix(n - 1) + "…" : s }

    /// Seconds with three decimals: `12.345`.
    static func seconds(_ s: Double) -> String {
        let ms = Int64((s * 1000).rounded())
        let fraction = String(abs(ms % 1000))
        return (ms < 0 && ms > -1000 ? "-" : "") + "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    func marker(_ m: HTMLAssociationSummary.Marker, y: Double, into w: inout HTMLWriter) {
        let rowY = y + 14
        w.open("g", [.init("class", "marker \(m.severity.rawValue)")])
        w.element("title", [], m.message)
        timeLabel(m.time, y: rowY, into: &w)
        let x = Self.scu - 24
        w.empty("polygon", [.init("points", "\(x),\(rowY - 6) \(x + 6),\(rowY) \(x),\(rowY + 6) \(x - 6),\(rowY)")])
        w.element("text", [.init("x", x + 12), .init("y", rowY + 4)],
                  Self.shortened("\(m.severity) \(m.code): " + m.message, to: 76))
        w.close("g")
    }
}

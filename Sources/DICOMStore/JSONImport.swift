import Foundation

/// Reads the documented JSON import format (docs/STORE.md):
/// `{"format": "dicomtap-rpi", "version": 1, "patients": [{...}, ...]}`.
/// Every problem is a `StoreError` naming the file and the JSON path (`patients[2].items[0].code.value`).
/// Unknown keys are errors too, so that a misspelt field is not silently dropped.
struct JSONPatientReader {
    static let formatName = "dicomtap-rpi"
    static let formatVersion = 1

    let file: String
    /// Observation DateTime for records that give none (the import time).
    let defaultObservationDateTime: String

    func read(_ data: Data) throws -> [PatientRecord] {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw StoreError(.invalidJSON, file: file, "not valid JSON: \(error.localizedDescription)")
        }
        let top = try object(root, "$")
        try allowOnly(top, ["format", "version", "patients"], "$")
        guard try string(top, "format", "$", required: true) == Self.formatName else {
            throw StoreError(.invalidJSON, file: file, location: "format", "expected \"\(Self.formatName)\"")
        }
        guard let version = top["version"] as? NSNumber, version.intValue == Self.formatVersion else {
            throw StoreError(.invalidJSON, file: file, location: "version", "expected \(Self.formatVersion)")
        }
        guard let patients = top["patients"] as? [Any] else {
            throw StoreError(.invalidJSON, file: file, location: "patients", "expected an array of patients")
        }
        return try patients.enumerated().map { index, value in try patient(value, "patients[\(index)]") }
    }

    func patient(_ value: Any, _ path: String) throws -> PatientRecord {
        let o = try object(value, path)
        try allowOnly(o, ["patientID", "issuer", "issuerUniversalID", "issuerUniversalIDType", "name", "birthDate", "sex",
                          "otherIDs", "observationDateTime", "items"], path)
        let patientID = try string(o, "patientID", path, required: true) ?? ""
        try check(!patientID.isEmpty, "\(path).patientID", "must not be empty")
        try checkLO(patientID, "\(path).patientID")
        let issuer = try string(o, "issuer", path) ?? ""
        try checkLO(issuer, "\(path).issuer")
        let name = try string(o, "name", path, required: true) ?? ""
        try check(!name.contains("\\"), "\(path).name", "a person name has no backslash (PN is single-valued here)")
        let birthDate = try string(o, "birthDate", path) ?? ""
        try check(birthDate.isEmpty || DICOMValueFormat.isDate(birthDate), "\(path).birthDate", "expected a DICOM date YYYYMMDD, got \"\(birthDate)\"")
        let sex = try string(o, "sex", path) ?? ""
        try check(["", "M", "F", "O"].contains(sex), "\(path).sex", "expected M, F, O or empty, got \"\(sex)\"")
        let observation = try string(o, "observationDateTime", path) ?? defaultObservationDateTime
        try check(DICOMValueFormat.isDateTime(observation), "\(path).observationDateTime",
                  "expected a DICOM date-time YYYYMMDD[HHMMSS[.FFFFFF]][&ZZXX], got \"\(observation)\"")
        var others: [OtherPatientID] = []
        if let list = o["otherIDs"] {
            guard let array = list as? [Any] else { throw invalid("\(path).otherIDs", "expected an array") }
            for (i, entry) in array.enumerated() {
                let p = "\(path).otherIDs[\(i)]"
                let e = try object(entry, p)
                try allowOnly(e, ["id", "issuer", "type"], p)
                let id = try string(e, "id", p, required: true) ?? ""
                try check(!id.isEmpty, "\(p).id", "must not be empty")
                try checkLO(id, "\(p).id")
                let type = try string(e, "type", p)
                try check(type == nil || ["TEXT", "RFID", "BARCODE"].contains(type!), "\(p).type", "expected TEXT, RFID or BARCODE")
                let otherIssuer = try string(e, "issuer", p)
                if let otherIssuer { try checkLO(otherIssuer, "\(p).issuer") }
                others.append(OtherPatientID(id: id, issuer: otherIssuer, type: type))
            }
        }
        var items: [InformationItem] = []
        if let list = o["items"] {
            guard let array = list as? [Any] else { throw invalid("\(path).items", "expected an array") }
            items = try array.enumerated().map { i, entry in try item(entry, "\(path).items[\(i)]") }
        }
        return PatientRecord(patientID: patientID, issuer: issuer,
                             issuerUniversalID: try string(o, "issuerUniversalID", path),
                             issuerUniversalIDType: try string(o, "issuerUniversalIDType", path),
                             name: name, birthDate: birthDate, sex: sex, otherIDs: others,
                             observationDateTime: observation, items: items)
    }

    func item(_ value: Any, _ path: String) throws -> InformationItem {
        let o = try object(value, path)
        try allowOnly(o, ["category", "code", "concept", "text", "start", "end", "value", "units"], path)
        let categoryName = try string(o, "category", path, required: true) ?? ""
        guard let category = ItemCategory(rawValue: categoryName) else {
            let known = ItemCategory.allCases.map(\.rawValue).joined(separator: ", ")
            throw invalid("\(path).category", "unknown category \"\(categoryName)\"; expected one of \(known)")
        }
        let code = try coded(o["code"], "\(path).code")
        let concept = try coded(o["concept"], "\(path).concept")
        let units = try coded(o["units"], "\(path).units")
        let text = try string(o, "text", path)
        let start = try string(o, "start", path)
        let end = try string(o, "end", path)
        for (key, dt) in [("start", start), ("end", end)] {
            if let dt { try check(DICOMValueFormat.isDateTime(dt), "\(path).\(key)", "expected a DICOM date-time YYYYMMDD[HHMMSS], got \"\(dt)\"") }
        }
        var numeric: Double?
        if let raw = o["value"] {
            guard let number = raw as? NSNumber, !(raw is Bool), number.doubleValue.isFinite else {
                throw invalid("\(path).value", "expected a number")
            }
            numeric = number.doubleValue
        }
        switch category {
        case .history:
            try check(text != nil, "\(path).text", "a history item needs text")
        case .observation:
            try check(concept != nil, "\(path).concept", "an observation needs its concept name")
            try check(numeric == nil || units != nil, "\(path).units", "a numeric observation needs UCUM units")
            try check(numeric != nil || code != nil || text != nil, path, "an observation needs a value, a code or a text")
        default:
            try check(code != nil || text != nil, "\(path).code", "a \(category.rawValue) item needs a code (or at least a text)")
        }
        return InformationItem(category: category, code: code, concept: concept, text: text, start: start, end: end,
                               numeric: numeric, units: units)
    }

    func coded(_ value: Any?, _ path: String) throws -> CodedConcept? {
        guard let value else { return nil }
        let o = try object(value, path)
        try allowOnly(o, ["value", "scheme", "meaning"], path)
        let v = try string(o, "value", path, required: true) ?? ""
        let s = try string(o, "scheme", path, required: true) ?? ""
        let m = try string(o, "meaning", path, required: true) ?? ""
        try check(!v.isEmpty && !v.contains("\\"), "\(path).value", "a code value: not empty, no backslash")
        try check(!s.isEmpty && s.utf8.count <= 16 && !s.contains("\\"), "\(path).scheme",
                  "a coding scheme designator (1-16 characters, no backslash, e.g. SCT, LN, DCM)")
        try check(!m.isEmpty && m.count <= 64 && !m.contains("\\"), "\(path).meaning", "a code meaning (1-64 characters, no backslash)")
        return CodedConcept(v, s, m)
    }

    // MARK: helpers

    func invalid(_ path: String, _ detail: String) -> StoreError {
        StoreError(.invalidValue, file: file, location: path, detail)
    }

    func check(_ condition: Bool, _ path: String, _ detail: String) throws {
        if !condition { throw invalid(path, detail) }
    }

    /// LO: at most 64 characters, no backslash (PS3.5 Table 6.2-1).
    func checkLO(_ value: String, _ path: String) throws {
        try check(value.count <= 64 && !value.contains("\\"), path, "at most 64 characters and no backslash")
    }

    func object(_ value: Any, _ path: String) throws -> [String: Any] {
        guard let o = value as? [String: Any] else { throw StoreError(.invalidJSON, file: file, location: path, "expected an object") }
        return o
    }

    func allowOnly(_ o: [String: Any], _ keys: Set<String>, _ path: String) throws {
        if let unknown = o.keys.sorted().first(where: { !keys.contains($0) }) {
            throw StoreError(.invalidJSON, file: file, location: path == "$" ? unknown : "\(path).\(unknown)",
                             "unknown key; expected one of \(keys.sorted().joined(separator: ", "))")
        }
    }

    func string(_ o: [String: Any], _ key: String, _ path: String, required: Bool = false) throws -> String? {
        let location = path == "$" ? key : "\(path).\(key)"
        guard let raw = o[key], !(raw is NSNull) else {
            if required { throw StoreError(.invalidJSON, file: file, location: location, "missing") }
            return nil
        }
        guard let s = raw as? String else { throw StoreError(.invalidJSON, file: file, location: location, "expected a string") }
        return s
    }
}

/// Syntax checks of DICOM DA and DT values (PS3.5 Table 6.2-1).
enum DICOMValueFormat {
    static func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }

    /// YYYYMMDD.
    static func isDate(_ s: String) -> Bool {
        guard s.count == 8, isDigits(Substring(s)) else { return false }
        let month = Int(s.dropFirst(4).prefix(2)) ?? 0, day = Int(s.suffix(2)) ?? 0
        return (1...12).contains(month) && (1...31).contains(day)
    }

    /// YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX].
    static func isDateTime(_ s: String) -> Bool {
        var body = Substring(s)
        if let sign = body.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let offset = body[body.index(after: sign)...]
            guard offset.count == 4, isDigits(offset) else { return false }
            body = body[..<sign]
        }
        var fraction: Substring = ""
        if let dot = body.firstIndex(of: ".") {
            fraction = body[body.index(after: dot)...]
            body = body[..<dot]
            guard body.count == 14, (1...6).contains(fraction.count), isDigits(fraction) else { return false }
        }
        guard [4, 6, 8, 10, 12, 14].contains(body.count), isDigits(body) else { return false }
        if body.count >= 8 { return isDate(String(body.prefix(8))) }
        return true
    }

    /// Now as a DICOM DT in UTC (YYYYMMDDHHMMSS).
    static func now() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return formatter.string(from: Date())
    }
}

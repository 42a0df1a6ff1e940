/// The frame every DICOMTap HTML page shares (analyze's report, replay's report): doctype, head with the
/// inline style sheet (no font, style or script from the network), and the page header. Renderers of other
/// modules write their own content between `begin` and `end` with an `HTMLWriter`.
public enum HTMLPage {
    /// `<!DOCTYPE html>` to the open `<div id="page">` with its `<header>`: `title` in the tab, `heading`
    /// as the page's `h1`, `meta` under it; `style`: rules of the page's own, after the shared ones.
    public static func begin(title: String, heading: String, meta: String, style: StaticString = "") -> HTMLWriter {
        var w = HTMLWriter()
        w.markup("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        w.markup("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        w.element("title", [], title)
        w.markup("<style>")
        w.markup(HTMLStyle.css)
        w.markup(style)
        w.markup("</style></head><body><div id=\"page\">")
        w.open("header", [.init("class", "top")])
        w.element("h1", [], heading)
        w.element("p", [.init("class", "meta")], meta)
        w.close("header")
        return w
    }

    /// Closes the page (no script: analyze's report ends with its filter script, `HTMLReport.end`).
    public static func end() -> HTMLWriter {
        var w = HTMLWriter()
        w.markup("</div></body></html>\n")
        return w
    }
}

import Foundation

/// Replaces scalar values in a YAML or JSON file's text, in place, keeping everything else (comments,
/// order, layout) as it was: used to write ciphertexts over plain `#` values so a flow never keeps a
/// secret in the clear. A scalar it cannot delimit on its line (a block scalar `|`/`>`, a multi-line
/// quoted string) is left alone and returned.
public enum ScalarRewriter {
    /// `replacements`: value location → new value (written as a JSON string, valid YAML too).
    /// Returns the new text and the locations it could not rewrite.
    public static func rewrite(_ text: String, _ replacements: [SourceLocation: String]) -> (String, skipped: [SourceLocation]) {
        var lines = text.components(separatedBy: "\n")
        var skipped: [SourceLocation] = []
        // Right to left within a line, so earlier columns stay valid.
        for (location, value) in replacements.sorted(by: { ($0.key.line, -$0.key.column) < ($1.key.line, -$1.key.column) }) {
            let index = location.line - 1
            guard lines.indices.contains(index) else { skipped.append(location); continue }
            var scalars = Array(lines[index].unicodeScalars)
            let start = location.column - 1
            guard scalars.indices.contains(start), let end = scalarEnd(scalars, from: start) else { skipped.append(location); continue }
            scalars.replaceSubrange(start..<end, with: quoted(value).unicodeScalars)
            var line = String.UnicodeScalarView()
            line.append(contentsOf: scalars)
            lines[index] = String(line)
        }
        return (lines.joined(separator: "\n"), skipped)
    }

    /// One past the scalar's last character, or nil if it does not end on this line.
    static func scalarEnd(_ line: [Unicode.Scalar], from start: Int) -> Int? {
        switch line[start] {
        case "\"":
            var i = start + 1
            while i < line.count {
                if line[i] == "\\" { i += 2; continue }
                if line[i] == "\"" { return i + 1 }
                i += 1
            }
            return nil
        case "'":
            var i = start + 1
            while i < line.count {
                if line[i] == "'" {
                    if i + 1 < line.count, line[i + 1] == "'" { i += 2; continue }
                    return i + 1
                }
                i += 1
            }
            return nil
        case "|", ">":
            return nil
        default:
            // A plain scalar: to a comment, a flow delimiter, or the end of the line.
            var i = start
            while i < line.count {
                let c = line[i]
                if c == "," || c == "}" || c == "]" { break }
                if c == "#", i > start, line[i - 1] == " " { break }
                i += 1
            }
            while i > start, line[i - 1] == " " || line[i - 1] == "\t" { i -= 1 }
            return i > start ? i : nil
        }
    }

    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

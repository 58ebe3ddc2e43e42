//! Tests of the libconfig parser: each syntax element, the Ouistiti sample,
//! `@include`, and golden error messages with their `line:col`.

use std::fs;
use std::path::Path;

use super::*;

fn parse(text: &str) -> Group {
    parse_str(text, Path::new("<string>"), Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    match parse_str(text, Path::new("<string>"), Path::new(".")) {
        Ok(group) => panic!("parsed without error: {group:?}"),
        Err(e) => e.to_string(),
    }
}

fn kind<'a>(group: &'a Group, name: &str) -> &'a ValueKind {
    match group.get(name) {
        Some(s) => &s.value.kind,
        None => panic!("no setting {name} in {group:?}"),
    }
}

fn sub<'a>(group: &'a Group, name: &str) -> &'a Group {
    match kind(group, name) {
        ValueKind::Group(g) => g,
        other => panic!("{name} is not a group: {other:?}"),
    }
}

fn items<'a>(group: &'a Group, name: &str) -> &'a [Value] {
    match kind(group, name) {
        ValueKind::List(v) | ValueKind::Array(v) => v,
        other => panic!("{name} is not a list or array: {other:?}"),
    }
}

fn int(value: i64) -> ValueKind {
    ValueKind::Int { value, wide: false }
}

fn wide(value: i64) -> ValueKind {
    ValueKind::Int { value, wide: true }
}

fn string(s: &str) -> ValueKind {
    ValueKind::Str(s.to_owned())
}

fn names(group: &Group) -> Vec<&str> {
    group.settings.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn equals_and_colon_assign() {
    let g = parse("a = 1;\nb : 2;");
    assert_eq!(kind(&g, "a"), &int(1));
    assert_eq!(kind(&g, "b"), &int(2));
}

#[test]
fn terminators_are_optional_and_may_be_commas() {
    let g = parse("a = 1\nb = \"x\", c = { d = 2 } e = (3) f = true");
    assert_eq!(names(&g), ["a", "b", "c", "e", "f"]);
    assert_eq!(kind(sub(&g, "c"), "d"), &int(2));
}

#[test]
fn names_accept_dash_underscore_and_star() {
    let g = parse("log-file = 1; config_d = 2; *x*-1_ = 3; A = 4; a = 5;");
    assert_eq!(names(&g), ["log-file", "config_d", "*x*-1_", "A", "a"]);
}

#[test]
fn spans_point_at_names_and_value_starts() {
    let g = parse("a = 1;\n  grp = {\n    port = 80; };");
    let grp = g.get("grp").unwrap();
    assert_eq!((grp.name_span.line, grp.name_span.col), (2, 3));
    assert_eq!((grp.value.span.line, grp.value.span.col), (2, 9));
    let port = sub(&g, "grp").get("port").unwrap();
    assert_eq!((port.name_span.line, port.name_span.col), (3, 5));
    assert_eq!((port.value.span.line, port.value.span.col), (3, 12));
    assert_eq!(&*port.value.span.file, Path::new("<string>"));
}

#[test]
fn nested_groups_and_lists_of_groups() {
    let g = parse("outer = { inner = { x = 1; }; list = ({ a = 1; }, { a = 2; }, (3, \"s\")); };");
    let outer = sub(&g, "outer");
    assert_eq!(kind(sub(outer, "inner"), "x"), &int(1));
    let list = items(outer, "list");
    assert_eq!(list.len(), 3);
    match &list[1].kind {
        ValueKind::Group(grp) => assert_eq!(kind(grp, "a"), &int(2)),
        other => panic!("not a group: {other:?}"),
    }
    match &list[2].kind {
        ValueKind::List(v) => assert_eq!(v[1].kind, string("s")),
        other => panic!("not a list: {other:?}"),
    }
}

#[test]
fn arrays_of_each_scalar_type() {
    let g = parse("i = [1, 2L, 0x3]; s = [\"a\", \"b\" \"c\"]; f = [1.5, 2.0]; b = [true, FALSE];");
    let ints: Vec<_> = items(&g, "i").iter().map(|v| v.kind.clone()).collect();
    assert_eq!(ints, [int(1), wide(2), int(3)]);
    assert_eq!(items(&g, "s")[1].kind, string("bc"));
    assert_eq!(items(&g, "f")[0].kind, ValueKind::Float(1.5));
    assert_eq!(items(&g, "b")[1].kind, ValueKind::Bool(false));
    assert!(matches!(kind(&g, "i"), ValueKind::Array(_)));
}

#[test]
fn empty_containers() {
    let g = parse("a = []; l = (); g = {};");
    assert_eq!(kind(&g, "a"), &ValueKind::Array(vec![]));
    assert_eq!(kind(&g, "l"), &ValueKind::List(vec![]));
    assert_eq!(kind(&g, "g"), &ValueKind::Group(Group::default()));
    assert!(parse("").settings.is_empty());
    assert!(parse("  # only a comment\n").settings.is_empty());
}

#[test]
fn string_escapes() {
    let g = parse(
        r#"s = "a\\b\"c\nd\re\tf\fg\x41\x7a"; u = "\xC3\xA9t\xc3\xa9"; raw = "l1
l2";"#,
    );
    assert_eq!(kind(&g, "s"), &string("a\\b\"c\nd\re\tf\x0cgAz"));
    assert_eq!(kind(&g, "u"), &string("été"));
    assert_eq!(kind(&g, "raw"), &string("l1\nl2"));
}

#[test]
fn adjacent_strings_concatenate_across_comments() {
    let g = parse("docroot = \"/srv\" /* c */ \"/www\" # x\n  // y\n \"/htdocs\";");
    assert_eq!(kind(&g, "docroot"), &string("/srv/www/htdocs"));
    let d = g.get("docroot").unwrap();
    assert_eq!((d.value.span.line, d.value.span.col), (1, 11));
}

#[test]
fn integers() {
    let g = parse(
        "a = 80; b = -1; c = +5; d = 0x1F; e = 0X1f; f = 3600L; g = -7LL; h = 0x10L;\n\
         i = 0xFFFFFFFF; j = 3000000000; k = 0; l = 007;",
    );
    let want = [
        ("a", int(80)),
        ("b", int(-1)),
        ("c", int(5)),
        ("d", int(31)),
        ("e", int(31)),
        ("f", wide(3600)),
        ("g", wide(-7)),
        ("h", wide(16)),
        ("i", int(4_294_967_295)),
        ("j", int(3_000_000_000)),
        ("k", int(0)),
        ("l", int(7)),
    ];
    for (name, value) in want {
        assert_eq!(kind(&g, name), &value, "{name}");
    }
    assert_eq!(kind(&parse("x = 0xFFFFFFFFFFFFFFFFL;"), "x"), &wide(-1));
}

#[test]
fn floats() {
    let g = parse(
        "a = 3.0; b = .5; c = -1.5; d = 1e3; e = 2.5e-1; f = 5.; g = +1.5E+2; h = -.25; i = 5.e1;",
    );
    let want = [
        ("a", 3.0),
        ("b", 0.5),
        ("c", -1.5),
        ("d", 1000.0),
        ("e", 0.25),
        ("f", 5.0),
        ("g", 150.0),
        ("h", -0.25),
        ("i", 50.0),
    ];
    for (name, value) in want {
        assert_eq!(kind(&g, name), &ValueKind::Float(value), "{name}");
    }
}

#[test]
fn booleans_in_any_case() {
    let g = parse("a = true; b = FALSE; c = True; d = fAlSe; truex = 1;");
    assert_eq!(kind(&g, "a"), &ValueKind::Bool(true));
    assert_eq!(kind(&g, "b"), &ValueKind::Bool(false));
    assert_eq!(kind(&g, "c"), &ValueKind::Bool(true));
    assert_eq!(kind(&g, "d"), &ValueKind::Bool(false));
    assert_eq!(kind(&g, "truex"), &int(1));
}

#[test]
fn comments() {
    let text = "# hash \"quote /* not a block\n\
                a = 1; // slashes \" and /* too\n\
                /* block\n   spanning # lines \" */ b = /* inline */ 2;\n\
                c = \"# // /* not comments */\"; /*/ odd opener */ d = 3;";
    let g = parse(text);
    assert_eq!(names(&g), ["a", "b", "c", "d"]);
    assert_eq!(kind(&g, "b"), &int(2));
    assert_eq!(kind(&g, "c"), &string("# // /* not comments */"));
    let b = g.get("b").unwrap();
    assert_eq!((b.name_span.line, b.name_span.col), (4, 26));
}

#[test]
fn ouistiti_sample() {
    let text = r#"user = "www-data";
log-file = "/var/log/ouistiti.log";
mimetypes = ({ ext = ".mp3"; mime = "audio/mp3"; },
             { ext = ".mjpeg,.mjpg"; mime = "video/x-motion-jpeg"; });
servers = ({
    hostname = "www.example.org";
    port = 80;
    keepalivetimeout = 5;
    redirect = { options = "hsts"; };
  },
  {
    port = 443;
    tls = { crtfile = "/etc/ouistiti/srv.crt"; keyfile = "/etc/ouistiti/srv.key"; };
    document = { docroot = "/srv/www/htdocs"; deny = "^/.htaccess,.php";
                 defaultpage = "index.html"; options = "range,rest,dirlisting"; };
    python = { docroot = "x"; }
    websocket = { docroot = "/run/ws"; allow = "*"; deny = ""; };
  });
"#;
    let g = parse(text);
    assert_eq!(names(&g), ["user", "log-file", "mimetypes", "servers"]);
    assert_eq!(kind(&g, "log-file"), &string("/var/log/ouistiti.log"));
    let mime = items(&g, "mimetypes");
    assert_eq!(mime.len(), 2);
    let servers = items(&g, "servers");
    assert_eq!(servers.len(), 2);
    assert_eq!((servers[1].span.line, servers[1].span.col), (11, 3));
    let ValueKind::Group(second) = &servers[1].kind else {
        panic!("server is not a group");
    };
    assert_eq!(
        names(second),
        ["port", "tls", "document", "python", "websocket"]
    );
    assert_eq!(kind(second, "port"), &int(443));
    assert_eq!(
        kind(sub(second, "document"), "deny"),
        &string("^/.htaccess,.php")
    );
    assert_eq!(kind(sub(second, "websocket"), "deny"), &string(""));
    let ValueKind::Group(first) = &servers[0].kind else {
        panic!("server is not a group");
    };
    assert_eq!(kind(sub(first, "redirect"), "options"), &string("hsts"));
}

#[test]
fn include_relative_to_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::create_dir(dir.path().join("sub/more")).unwrap();
    fs::write(
        dir.path().join("main.conf"),
        "a = 1;\n@include \"sub/b.conf\"\nd = 4;\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("sub/b.conf"),
        "b = 2;\n  @include \"more/c.conf\"\n",
    )
    .unwrap();
    fs::write(dir.path().join("sub/more/c.conf"), "# c\n  c = 3;\n").unwrap();
    let g = parse_file(&dir.path().join("main.conf")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&g), ["a", "b", "c", "d"]);
    let c = g.get("c").unwrap();
    assert_eq!(&*c.name_span.file, dir.path().join("sub/more/c.conf"));
    assert_eq!((c.name_span.line, c.name_span.col), (2, 3));
    assert_eq!(
        &*g.get("d").unwrap().name_span.file,
        dir.path().join("main.conf")
    );
}

#[test]
fn include_inside_a_group_from_a_string() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("tls.conf"),
        "crtfile = \"a.crt\";\nkeyfile = \"a.key\";\n",
    )
    .unwrap();
    let text = "tls = {\n  @include \"tls.conf\"\n  dhmfile = \"dh\";\n};";
    let g = parse_str(text, Path::new("<string>"), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(sub(&g, "tls")), ["crtfile", "keyfile", "dhmfile"]);
}

#[test]
fn include_errors() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Path::new("<string>");
    let err = parse_str("a = 1;\n  @include \"x.conf\"\n", origin, dir.path()).unwrap_err();
    assert!(matches!(err.problem, Problem::Io(_)));
    assert_eq!(
        err.to_string(),
        "<string>:2:3: error: cannot read included file \"x.conf\": No such file or directory"
    );

    fs::write(dir.path().join("dup.conf"), "\nport = 2;\n").unwrap();
    let err = parse_str("port = 1;\n@include \"dup.conf\"\n", origin, dir.path()).unwrap_err();
    let at = dir.path().join("dup.conf");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:1: error: syntax error: duplicate setting 'port'",
            at.display()
        )
    );

    let err = error("a = 1; @include \"x.conf\"");
    assert_eq!(
        err,
        "<string>:1:8: error: syntax error: '@include' must be on its own line"
    );
    let err = error("@inclde \"x.conf\"");
    assert_eq!(
        err,
        "<string>:1:1: error: syntax error: unknown directive '@inclde'"
    );
}

#[test]
fn include_loop_is_too_deep() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.conf");
    fs::write(&path, "# loops\n@include \"loop.conf\"\n").unwrap();
    let err = parse_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:1: error: syntax error: @include nested too deep",
            path.display()
        )
    );
}

#[test]
fn unreadable_top_level_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.conf");
    let err = parse_file(&path).unwrap_err();
    assert!(matches!(err.problem, Problem::Io(_)));
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:1: error: cannot read configuration file: No such file or directory",
            path.display()
        )
    );
}

#[test]
fn nesting_is_limited() {
    let ok = format!("a = {}{};", "(".repeat(100), ")".repeat(100));
    assert_eq!(items(&parse(&ok), "a").len(), 1);
    let deep = format!("a = {}{};", "(".repeat(101), ")".repeat(101));
    let want = "<string>:1:105: error: syntax error: values nested too deep";
    assert_eq!(error(&deep), want);
}

#[test]
fn golden_errors() {
    let cases = [
        (
            "port = ;",
            "1:8: error: syntax error: expected a value, found ';'",
        ),
        (
            "a = 1;\nport 80;",
            "2:6: error: syntax error: expected '=' or ':' after 'port', found '80'",
        ),
        (
            "a = 1;\nb = \"abc\n",
            "3:1: error: syntax error: unexpected end of file: unterminated string (opened at 2:5)",
        ),
        (
            "a = 1; /* never\nclosed",
            "2:7: error: syntax error: unexpected end of file: unterminated comment (opened at 1:8)",
        ),
        (
            "l = (1, 2,);",
            "1:10: error: syntax error: trailing ',' is not allowed in a list",
        ),
        (
            "a = [1, 2, ];",
            "1:10: error: syntax error: trailing ',' is not allowed in an array",
        ),
        (
            "a = [1,\n  \"two\"];",
            "2:3: error: syntax error: array elements must all have the same scalar type: expected integer, found string",
        ),
        (
            "a = [1, {}];",
            "1:9: error: syntax error: expected a scalar value in array, found '{'",
        ),
        (
            "x = 1;\ng = {\n  port = 1;\n    port = 2; };",
            "4:5: error: syntax error: duplicate setting 'port'",
        ),
        (
            "s = \"a\\qb\";",
            "1:7: error: syntax error: invalid escape '\\q'",
        ),
        (
            "s = \"\\x4g\";",
            "1:6: error: syntax error: invalid escape '\\x': expected two hex digits",
        ),
        (
            "a = 1;\n  $b = 2;",
            "2:3: error: syntax error: unexpected character '$'",
        ),
        (
            "a = 1 }",
            "1:7: error: syntax error: expected ';' or a new setting, found '}'",
        ),
        (
            "a = 1; }",
            "1:8: error: syntax error: expected a setting, found '}'",
        ),
        (
            "g = { a = 1 ) };",
            "1:13: error: syntax error: expected ';', '}' or a new setting, found ')'",
        ),
        (
            "l = (1 2);",
            "1:8: error: syntax error: expected ',' or ')', found '2'",
        ),
        (
            "l = (1 2.5);",
            "1:8: error: syntax error: expected ',' or ')', found a float",
        ),
        (
            "g = {\n  a = (1,\n",
            "3:1: error: syntax error: unexpected end of file: '(' opened at 2:7 is not closed",
        ),
        (
            "g = { a = 1;",
            "1:13: error: syntax error: unexpected end of file: '{' opened at 1:5 is not closed",
        ),
        (
            "a =",
            "1:4: error: syntax error: unexpected end of file, expected a value",
        ),
        (
            "a = 9223372036854775808;",
            "1:5: error: syntax error: integer out of range",
        ),
        (
            "a = 0x1FFFFFFFFFFFFFFFF;",
            "1:5: error: syntax error: integer out of range",
        ),
        (
            "true = 1;",
            "1:1: error: syntax error: expected a setting, found 'true'",
        ),
        (
            "a = -x;",
            "1:5: error: syntax error: unexpected character '-'",
        ),
        (
            "s = \"\\xff\";",
            "1:5: error: syntax error: string is not valid UTF-8 (check its \\x escapes)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), format!("<string>:{want}"), "input: {text:?}");
    }
}

//! Compile-fail tests of `#[rpc]`: each case under `tests/ui/` must fail to
//! compile with the message in its `.stderr` snapshot.

#[test]
fn rpc_macro_rejects_invalid_traits_with_pointed_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

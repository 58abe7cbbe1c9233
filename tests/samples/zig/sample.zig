const std = @import("std");
const Allocator = std.mem.Allocator;

pub const max_depth: usize = 32;

pub const TokenKind = enum {
    number,
    plus,
    minus,
    eof,
};

pub const Token = struct {
    kind: TokenKind,
    value: i64 = 0,

    pub fn isOperator(self: Token) bool {
        return self.kind == .plus or self.kind == .minus;
    }
};

const Value = union(enum) {
    int: i64,
    err: []const u8,
};

var token_count: usize = 0;

fn classify(c: u8) TokenKind {
    return switch (c) {
        '+' => .plus,
        '-' => .minus,
        else => .number,
    };
}

pub fn tokenize(allocator: Allocator, input: []const u8) !std.ArrayList(Token) {
    var tokens = std.ArrayList(Token).init(allocator);
    for (input) |c| {
        const kind = classify(c);
        const digit: i64 = if (kind == .number) c - '0' else 0;
        try tokens.append(Token{ .kind = kind, .value = digit });
        token_count += 1;
    }
    try tokens.append(.{ .kind = .eof });
    return tokens;
}

pub fn main() !void {
    const allocator = std.heap.page_allocator;
    const tokens = try tokenize(allocator, "1 + 2");
    defer tokens.deinit();
    for (tokens.items) |tok| {
        std.debug.print("{any} {}\n", .{ tok.kind, tok.isOperator() });
    }
}

test "classify operators" {
    try std.testing.expectEqual(TokenKind.plus, classify('+'));
}

fn sigDemo(a: u32, // sigcomment
    b: u32) u32 {
    return a + b;
}

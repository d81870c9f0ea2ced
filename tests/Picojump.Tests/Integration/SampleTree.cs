namespace Picojump.Tests.Integration;

/// <summary>
/// Bash scripts that build a small tree with everything a copy can get wrong, and list a
/// tree in a form two copies can be compared by (`diff -r` looks at contents only).
/// </summary>
internal static class SampleTree
{
    /// <summary>`$1`: the directory to create. Subdirectories, sizes around page and request
    /// boundaries, hard links, relative/absolute/dangling symlinks, a fifo, special modes,
    /// owners, an xattr and fixed timestamps.</summary>
    public const string Generate = """
        src=$1
        mkdir -p "$src"/a/b/c "$src"/empty "$src/with space" "$src"/sticky "$src"/sgid
        printf 'hello\n' > "$src"/a/hello.txt
        : > "$src"/a/empty.txt
        seq 1 200000 > "$src"/a/numbers.txt
        head -c 3000001 /dev/urandom > "$src"/a/b/big.bin
        head -c 131073 /dev/urandom > "$src"/a/b/c/odd.bin
        printf 'spaced\n' > "$src/with space/file name"
        printf '#!/bin/sh\necho script ran\n' > "$src"/a/script.sh
        ln "$src"/a/hello.txt "$src"/a/b/hard-link.txt
        ln "$src"/a/hello.txt "$src"/hard-link-2.txt
        ln -s hello.txt "$src"/a/relative-link
        ln -s /etc/hostname "$src"/a/absolute-link
        ln -s does-not-exist "$src"/a/dangling-link
        ln -s ../a "$src"/empty/dir-link
        mkfifo "$src"/a/fifo
        chmod 600 "$src"/a/hello.txt
        chmod 755 "$src"/a/script.sh
        chmod 4755 "$src"/a/b/big.bin
        chmod 1777 "$src"/sticky
        chmod 2750 "$src"/sgid
        chmod 700 "$src"/a/b/c
        chmod 444 "$src"/a/b/c/odd.bin
        chown 1234:5678 "$src"/a/numbers.txt
        chown -h 4321:8765 "$src"/a/relative-link
        python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.picojump.test", b"value with \x00 byte")' "$src"/a/empty.txt
        touch -d '2001-02-03 04:05:06.123456789' "$src"/a/hello.txt
        touch -h -d '2002-03-04 05:06:07.5' "$src"/a/relative-link
        touch -d '2003-04-05 06:07:08' "$src"/a/b "$src"/empty
        """;

    /// <summary>`$1`: the tree to list. One line per entry: path, type, mode, owner, size
    /// (not for directories, whose size depends on their history), link count, mtime in
    /// nanoseconds and symlink target; then every user xattr.</summary>
    public const string List = """
        cd "$1"
        find . -mindepth 1 \( -type d -printf '%p %y %m %U:%G - %n %T@\n' \) -o -printf '%p %y %m %U:%G %s %n %T@ %l\n' | LC_ALL=C sort
        python3 -c '
        import os
        for top, dirs, files in sorted(os.walk(".")):
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                for attr in sorted(os.listxattr(path, follow_symlinks=False)):
                    print("xattr", path, attr, os.getxattr(path, attr, follow_symlinks=False))
        '
        """;

    /// <summary>A bash function `same_tree A B` that fails with a diff if two trees differ.</summary>
    public const string SameTreeFunction = $$"""
        list_tree() {
        {{List}}
        }
        same_tree() {
            # diff cannot compare fifos; the listing covers them.
            diff -r --no-dereference -x fifo "$1" "$2"
            diff -u <(list_tree "$1") <(list_tree "$2") || { echo "listings of $1 and $2 differ" >&2; return 1; }
        }
        """;
}

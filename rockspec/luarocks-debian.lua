-- LuaRocks configuration for building and installing netops here, offline,
-- with the Lua libraries Debian provides (lua-argparse, lua-dkjson,
-- lua-filesystem, in DEPS_BUILD): the rockspec declares them, and these
-- entries say they are installed already.  Used by the Makefile and
-- .ci/package-test.sh as LUAROCKS_CONFIG; a user with a network needs none
-- of it (`luarocks install netops` fetches them from the rocks server).
rocks_provided = {
  argparse = "0.7.1-1",
  dkjson = "2.6-1",
  luafilesystem = "1.8.0-1",
}

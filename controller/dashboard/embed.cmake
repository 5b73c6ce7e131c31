# Turns the dashboard's files into a C++ source the controller links: the controller serves
# them from memory, so an install is one binary and the page always matches the API.
# Usage: cmake -DOUT=file.cpp -DFILES="a;b" -DBASE=dir -P embed.cmake
set(body "// Generated from controller/dashboard by embed.cmake: do not edit.\n#include \"controller/dashboard.h\"\n\nnamespace bulwark::controller {\nnamespace {\n")
set(table "")
set(i 0)
foreach(file IN LISTS FILES)
  file(READ "${BASE}/${file}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND body "const unsigned char kFile${i}[] = {${bytes}0};\n")
  string(APPEND table "    {\"${file}\", reinterpret_cast<const char*>(kFile${i}), ${size}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "}  // namespace\n\nconst std::vector<DashboardFile>& DashboardFiles() {\n  static const std::vector<DashboardFile> files = {\n${table}  };\n  return files;\n}\n\n}  // namespace bulwark::controller\n")
file(WRITE "${OUT}.tmp" "${body}")
file(RENAME "${OUT}.tmp" "${OUT}")

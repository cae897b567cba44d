# The web page (src/serve/web/*) is embedded into libfrugal at build time: embed.cmake
# (run in cmake's script mode, so no xxd is needed) turns each file into a byte array in
# a generated C file, regenerated whenever a web file changes. Included by the top-level
# CMakeLists.txt after the frugal target exists.
set(FG_WEB_FILES
  ${CMAKE_SOURCE_DIR}/src/serve/web/index.html
  ${CMAKE_SOURCE_DIR}/src/serve/web/app.js
  ${CMAKE_SOURCE_DIR}/src/serve/web/style.css)
set(FG_WEB_C ${CMAKE_BINARY_DIR}/generated/serve_web_assets.c)
add_custom_command(
  OUTPUT ${FG_WEB_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${FG_WEB_C} "-DFILES=${FG_WEB_FILES}"
          -P ${CMAKE_SOURCE_DIR}/src/serve/embed.cmake
  DEPENDS ${FG_WEB_FILES} ${CMAKE_SOURCE_DIR}/src/serve/embed.cmake
  COMMENT "Embedding the web page"
  VERBATIM)
target_sources(frugal PRIVATE ${FG_WEB_C})

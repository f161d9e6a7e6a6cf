# A copy of the option machinery (src/cli/) with one subcommand's options
# added the one way the table says: a group bit, a field each in struct
# cli_options, and a row each in the table. Nothing else of the copy
# differs from the sources; test_option_rows.c then checks that --help,
# the environment, the INI file, --print-config and the masking of secrets
# all know the new options.
#
# cmake -DSRC=<src/cli> -DDST=<dir> -P option_rows.cmake
foreach(var SRC DST)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "option_rows.cmake: ${var} not given")
  endif()
endforeach()

file(MAKE_DIRECTORY ${DST})
file(GLOB sources RELATIVE ${SRC} ${SRC}/*.c ${SRC}/*.h)

# insert(VAR ANCHOR ADDED): ADDED before ANCHOR in the text held by VAR.
function(insert var anchor added)
  string(FIND "${${var}}" "${anchor}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "option_rows.cmake: '${anchor}' is no longer in the sources")
  endif()
  string(SUBSTRING "${${var}}" 0 ${at} before)
  string(SUBSTRING "${${var}}" ${at} -1 after)
  set(${var} "${before}${added}${after}" PARENT_SCOPE)
endfunction()

foreach(name ${sources})
  file(READ ${SRC}/${name} text)
  if(name STREQUAL "options_table.h")
    insert(text "    CLI_GROUP_BROKER = 1u << 0,"
      "    CLI_GROUP_DEMO = 1u << 30,   /* the demo subcommand's own */\n")
    insert(text "    /* storage for the default client id */"
      "    const char *colour;\n    const char *passphrase;\n    bool blink;\n")
  elseif(name STREQUAL "options_table.c")
    insert(text "    { \"help\", KEY_HELP,"
      "    { \"colour\", 0, required_argument, CLI_GROUP_DEMO, \"name\", \"the lamp's colour\", 0, FIELD(STR, colour), NULL },\n    { \"passphrase\", 0, required_argument, CLI_GROUP_DEMO, \"words\", \"what unlocks the lamp\", CLI_OPT_SECRET, FIELD(STR, passphrase), NULL },\n    { \"blink\", 0, no_argument, CLI_GROUP_DEMO, NULL, \"blink the lamp\", 0, FIELD(BOOL, blink), NULL },\n")
  endif()
  file(WRITE ${DST}/${name} "${text}")
endforeach()

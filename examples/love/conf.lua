-- LÖVE 11 configuration for the aurous example.
function love.conf(t)
  t.version = "11.0"
  t.window.title = "aurous + LÖVE"
  t.window.width = 800
  t.window.height = 600
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.audio = false -- the example makes no sound (and CI has no sound card)
  t.modules.sound = false
end

"""Skills: the SDK a skill author imports (`skills.sdk`) and the built-in skills."""

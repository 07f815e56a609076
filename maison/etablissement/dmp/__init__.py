"""The structure's DMP client: the ITI-65 Provide Bundle its software sends for the documents it produces."""
